#!/bin/sh
# Installs the build into a temporary prefix and builds a program against it through pkg-config:
# the installed headers, libraries and ventral.pc must be usable from wherever they are moved.
# usage: check_install.sh BUILD_DIR
set -eu
build=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cmake --install "$build" --prefix "$dir/usr" >/dev/null
mv "$dir/usr" "$dir/moved"
pcdir=$(dirname "$(find "$dir/moved" -name ventral.pc)")
cat > "$dir/t.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <ventral/dim.h>
#include <ventral/npy.h>
int main(void)
{
    double x[6] = {1, 0, 0, 1, 1, 1}, pr;
    int64_t shape[2] = {3, 2};
    vt_tensor *t = vt_tensor_wrap(VT_F64, 2, shape, x);
    if (vt_dim_participation_ratio(t, &pr) != VT_OK) return 1;
    vt_tensor_free(t);
    printf("ventral %s: participation ratio %.6f\n", vt_version(), pr);
    return strcmp(vt_version(), "") == 0;
}
C
cc "$dir/t.c" $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs ventral) -o "$dir/t"
LD_LIBRARY_PATH=$(dirname "$pcdir") "$dir/t"
test -x "$dir/moved/bin/ventral"
test -f "$dir/moved/share/ventral/models/models.yaml"
echo "1 passed, 0 failed"
