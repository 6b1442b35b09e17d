/* heredocs, comments, lists and object values */
api_addr = <<EOT
https://10.0.0.1:8200
EOT
seal "pkcs11" {
  pin = <<-PIN
    12 34
    PIN
  // trailing comment
  token_label = "tok\t\"x\"\\"
}
listener = { tcp = { tls_disable = false, tls_cert_file = "c", tls_key_file = "k" } }
storage inmem {}
log_level = "warn" # comment
