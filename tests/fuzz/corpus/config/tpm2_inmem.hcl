storage "inmem" {}
seal "tpm2" {
  tcti     = "device:/dev/tpmrm0"
  pcrs     = "0,2,4,7"
  pcr_bank = "sha256"
}
listener "tcp" { tls_disable = "1", max_request_size = 0 }
ui = true
max_lease_ttl = 86400
