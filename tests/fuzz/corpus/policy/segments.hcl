# segments
path "secret/+/teamb" { capabilities = ["read"] }
path "secret/+/foo/*" { capabilities = ["update", "sudo"] }
path "k/+/x/+" { capabilities = ["patch"] }
// legacy
path "/old/*" { policy = "write" }
/* block */
path "+" { policy = "sudo" }
