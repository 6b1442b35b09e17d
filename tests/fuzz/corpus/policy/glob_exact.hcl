path "secret/*" { capabilities = ["read", "list"] }
path "secret/foo" { capabilities = ["deny"] }
