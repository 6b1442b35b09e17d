path "secret/p" {
  capabilities = ["create", "update", "read"]
  allowed_parameters = {
    "ttl" = ["1h", "2h"]
    "env" = ["prod-*", "*-test", "*mid*"]
    "*" = []
  }
  denied_parameters = { "admin" = [true, 1, "x"] }
  required_parameters = ["ttl"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = 3600
  comment = "params"
}
path "secret/p" { capabilities = ["list"] }
