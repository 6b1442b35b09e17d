path "a" <<EOF
x
EOF
