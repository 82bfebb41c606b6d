{
  "targets": [
    {
      "target_name": "glimpse_native",
      "sources": ["native/addon.c", "native/sendfile.c", "native/aligned-buffer.c", "native/socket-dup.c", "native/residency.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"],
      "conditions": [["OS!='linux'", {"type": "none", "sources!": ["native/addon.c", "native/sendfile.c", "native/aligned-buffer.c", "native/socket-dup.c", "native/residency.c"]}]]
    }
  ]
}
