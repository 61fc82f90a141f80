/* Test tool: reads IN.npy with vt_npy_read (or vt_npy_map with --map) and writes it to OUT.npy.
 * On failure prints vt_last_error() on one line and exits 1. */
#include <stdio.h>
#include <string.h>

#include "ventral/npy.h"

int main(int argc, char **argv)
{
    int map = argc == 4 && strcmp(argv[1], "--map") == 0;
    if (argc != 3 + map) {
        fprintf(stderr, "usage: npy_roundtrip [--map] IN.npy OUT.npy\n");
        return 2;
    }
    vt_tensor *t = NULL;
    vt_status st = map ? vt_npy_map(argv[1 + map], &t) : vt_npy_read(argv[1 + map], &t);
    if (st == VT_OK) st = vt_npy_write(argv[2 + map], t);
    vt_tensor_free(t);
    if (st != VT_OK) {
        fprintf(stderr, "error: %s\n", vt_last_error());
        return 1;
    }
    return 0;
}
