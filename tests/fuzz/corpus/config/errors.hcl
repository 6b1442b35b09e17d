listener "tcp" {
  address = [1, -2.5, 3e4, true, "s", {a = {}}, [[[]]],]
}
foo = "\ud83d\ude00"
