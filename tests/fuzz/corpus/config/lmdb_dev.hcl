# single node, TLS off, for development
storage "lmdb" {
  path     = "/var/lib/keyhold"
  map_size = 1073741824
}

listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
}

seal "shamir" {}
api_addr  = "http://127.0.0.1:8200"
log_level = "debug"
ui        = false
