# SHA-256 through nettle (file checksums for provenance, caching and download verification).
pkg_check_modules(VT_NETTLE REQUIRED nettle)
list(APPEND VENTRAL_PRIVATE_LIBS ${VT_NETTLE_LINK_LIBRARIES})
list(APPEND VENTRAL_EXTRA_INCLUDES ${VT_NETTLE_INCLUDE_DIRS})
