{
  "targets": [
    {
      "target_name": "openat2",
      "sources": ["openat2.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
