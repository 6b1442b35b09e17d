storage "raft" {
  path    = "/var/lib/keyhold/raft"
  node_id = "kh-1"
  performance_multiplier = 1

  retry_join {
    leader_api_addr     = "https://kh-2.example.net:8200"
    leader_ca_cert_file = "/etc/keyhold/ca.pem"
  }
  retry_join {
    leader_api_addr       = "https://kh-3.example.net:8200"
    leader_tls_servername = "kh-3"
  }
}

listener "tcp" {
  address          = "0.0.0.0:8200"
  cluster_address  = "0.0.0.0:8201"
  tls_cert_file    = "/etc/keyhold/tls.crt"
  tls_key_file     = "/etc/keyhold/tls.key"
  tls_min_version  = "tls13"
  max_request_size = 33554432
}

seal "pkcs11" {
  lib          = "/usr/lib/softhsm/libsofthsm2.so"
  slot         = 0
  pin          = "1234"
  key_label    = "keyhold-root"
  mechanism    = "0x1087"
  generate_key = "true"
}

cluster_addr      = "https://kh-1.example.net:8201"
default_lease_ttl = "768h"
max_lease_ttl     = "1d12h"
disable_mlock     = 1
