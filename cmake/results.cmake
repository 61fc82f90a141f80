# Results database (SQLite) and report figures (cairo, PNG and SVG surfaces): src/bench/results*.c, report.c.
pkg_check_modules(VT_SQLITE3 REQUIRED sqlite3)
pkg_check_modules(VT_CAIRO REQUIRED cairo)
list(APPEND VENTRAL_EXTRA_INCLUDES ${VT_SQLITE3_INCLUDE_DIRS} ${VT_CAIRO_INCLUDE_DIRS})
list(APPEND VENTRAL_PRIVATE_LIBS ${VT_SQLITE3_LINK_LIBRARIES} ${VT_CAIRO_LINK_LIBRARIES})
