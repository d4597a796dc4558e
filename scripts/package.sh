#!/usr/bin/env bash
# Makes the Debian package from an already built Release tree and checks it:
#   scripts/package.sh [BUILD_DIR]      (default build-test, scripts/test.sh's Release build)
# Builds nothing itself: runs cpack (-G DEB, cmake/Packaging.cmake) in BUILD_DIR, whose preinstall
# step only finds the tree up to date. Then:
#   1. dpkg-deb --info and --contents: the control fields, maintainer scripts and conffiles, and
#      every expected path (executables, gzipped man pages, units, /etc/wsg configs, copyright);
#   2. lintian, when it is installed (its findings are printed, never fatal);
#   3. dpkg -i into a scratch root: dpkg --root with --force-script-chrootless, so the
#      maintainer scripts run on the host with DPKG_ROOT set and must write only under it (as
#      packaging/debian/postinst does: useradd/groupadd --prefix). A real chroot would need a
#      Debian base system in it (debootstrap: a download of ~300 MB and minutes), and this checks
#      the same things: that the package unpacks, that postinst creates the user in that root's
#      /etc/passwd and /etc/group and owns /var/lib/wsg, and that it enables nothing;
#   4. the installed wsg: --version, and check-config on each installed /etc/wsg config (with the
#      host's shared libraries);
#   5. dpkg --purge in the scratch root: the files and conffiles go, the user stays.
# The scratch root is removed at exit, always. Takes a few seconds. Leaves the .deb in BUILD_DIR.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-build-test}"
case "$dir" in /*) ;; *) dir="$here/$dir" ;; esac
start=$(date +%s)

fail() { echo "package: FAIL: $*" >&2; exit 1; }

[ -f "$dir/CMakeCache.txt" ] || fail "$dir is not a configured build tree (scripts/build.sh $dir first)"
[ -x "$dir/wsg" ] || fail "$dir/wsg is missing: build the tree first"
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$dir/CMakeCache.txt")"
[ "$build_type" = Release ] || echo "package: warning: $dir is a '$build_type' build, not Release"
[ -f "$dir/CPackConfig.cmake" ] || fail "$dir has no CPackConfig.cmake (a sanitizer or fuzz tree, or configured before cmake/Packaging.cmake)"
expect_bench=1
if [ ! -x "$dir/bench/load/wsg-bench" ]; then
  echo "package: warning: $dir/bench/load/wsg-bench is missing (WSG_BUILD_BENCH=OFF?): the package will not contain wsg-bench"
  expect_bench=0
fi
command -v dpkg-shlibdeps >/dev/null || fail "dpkg-shlibdeps missing: install dpkg-dev (scripts/setup.sh test does)"

echo "package: cpack -G DEB in $dir"
rm -f "$dir"/wsg_*.deb
(cd "$dir" && cpack -G DEB >"$dir/cpack.log" 2>&1) || { cat "$dir/cpack.log" >&2; fail "cpack failed"; }
debs=("$dir"/wsg_*.deb)
[ "${#debs[@]}" -eq 1 ] && [ -f "${debs[0]}" ] || fail "cpack made no single wsg_*.deb: ${debs[*]}"
deb="${debs[0]}"
echo "package: $deb ($(du -k "$deb" | cut -f1) KiB)"

tmp="$(mktemp -d /tmp/wsg-package.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

# ---- 1. control and contents --------------------------------------------------------------------
dpkg-deb --info "$deb" >"$tmp/info"
sed 's/^/  /' "$tmp/info"
for field in "Package: wsg" "Version: " "Architecture: " "Maintainer: " "Depends: " "Section: net"; do
  grep -q "^ $field" "$tmp/info" || fail "dpkg-deb --info: no '$field' field"
done
grep -q "^ Depends: .*passwd" "$tmp/info" || fail "Depends lacks passwd (postinst's useradd)"
grep -q "^ Depends: .*libc6" "$tmp/info" || fail "Depends lacks the shared libraries' packages (dpkg-shlibdeps)"
for script in postinst postrm conffiles; do
  grep -Eq "^ +[0-9]+ bytes, +[0-9]+ lines +[*]? +$script( |\$)" "$tmp/info" ||
    fail "dpkg-deb --info: no $script in the control archive"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$tmp/conffiles"
for f in /etc/wsg/master.toml /etc/wsg/node-1.toml /etc/wsg/node-2.toml; do
  grep -qx "$f" "$tmp/conffiles" || fail "$f is not a conffile"
done

dpkg-deb --contents "$deb" >"$tmp/contents"
expected=(
  ./usr/bin/wsg
  ./usr/share/man/man1/wsg.1.gz
  ./lib/systemd/system/wsg-master.service
  ./lib/systemd/system/wsg-node@.service
  ./etc/wsg/master.toml ./etc/wsg/node-1.toml ./etc/wsg/node-2.toml
  ./usr/share/doc/wsg/copyright
  ./usr/share/wsg/web/index.html
)
if [ "$expect_bench" = 1 ]; then expected+=(./usr/bin/wsg-bench ./usr/share/man/man1/wsg-bench.1.gz); fi
for p in "${expected[@]}"; do
  grep -q " $p\$" "$tmp/contents" || fail "dpkg-deb --contents: $p missing"
done
if awk '{print $2}' "$tmp/contents" | grep -v '^root/root$' | grep -q .; then
  fail "files not owned by root/root in the package"
fi
grep ' ./usr/bin/wsg$' "$tmp/contents" | grep -q '^-rwxr-xr-x' || fail "/usr/bin/wsg is not -rwxr-xr-x"
echo "package: contents: $(grep -vc '/$' "$tmp/contents") files, every expected path present"

# ---- 2. lintian (advice only) -------------------------------------------------------------------
if command -v lintian >/dev/null 2>&1; then
  echo "package: lintian (warnings only, not fatal):"
  lintian --tag-display-limit 0 "$deb" 2>&1 | sed 's/^/  /' || true
else
  echo "package: lintian not installed: skipped"
fi

# ---- 3. install into a scratch root -------------------------------------------------------------
root="$tmp/root"
admin="$root/var/lib/dpkg"
mkdir -p "$root/etc" "$admin/info" "$admin/updates" "$admin/triggers"
: >"$admin/status"
: >"$admin/available"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
printf 'root:*::\n' >"$root/etc/gshadow"
chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
if [ -f /etc/login.defs ]; then cp /etc/login.defs "$root/etc/"; fi  # useradd --prefix reads the root's

dpkg_root=(dpkg --root="$root" --admindir="$admin" --force-script-chrootless --force-not-root --log=/dev/null)
echo "package: dpkg -i into the scratch root $root"
host_ids="$(cat /etc/passwd /etc/group | sha256sum)"
# --force-depends: the scratch root has none of the dependencies; the host's libraries stand in.
"${dpkg_root[@]}" --force-depends -i "$deb" >"$tmp/dpkg-install.log" 2>&1 ||
  { cat "$tmp/dpkg-install.log" >&2; fail "dpkg -i into the scratch root failed"; }
status="$("${dpkg_root[@]}" -s wsg | sed -n 's/^Status: //p')"
[ "$status" = "install ok installed" ] || fail "dpkg -s wsg in the scratch root: '$status'"

passwd_line="$(grep '^wsg:' "$root/etc/passwd")" || fail "postinst created no wsg user in $root/etc/passwd"
IFS=: read -r _ _ uid gid _ home shell <<<"$passwd_line"
grep -q "^wsg:[^:]*:$gid:" "$root/etc/group" || fail "no wsg group with gid $gid in $root/etc/group"
[ "$uid" -lt 1000 ] || fail "wsg is not a system user (uid $uid)"
[ "$home" = /var/lib/wsg ] || fail "wsg's home is '$home', not /var/lib/wsg"
case "$shell" in */nologin | /bin/false) ;; *) fail "wsg has a login shell: '$shell'" ;; esac
grep -q '^wsg:' "$root/etc/shadow" || fail "no wsg entry in $root/etc/shadow"
[ "$(cat /etc/passwd /etc/group | sha256sum)" = "$host_ids" ] || fail "the host's /etc/passwd or /etc/group changed"
[ "$(stat -c '%u:%g %a' "$root/var/lib/wsg")" = "$uid:$gid 750" ] ||
  fail "/var/lib/wsg is $(stat -c '%u:%g %a' "$root/var/lib/wsg"), not $uid:$gid 750"
echo "package: postinst: $passwd_line; /var/lib/wsg owned by it"

# Nothing enabled or started: no unit linked into a .wants directory, no systemd state written.
if [ -d "$root/etc/systemd" ]; then
  enabled="$(find "$root/etc/systemd" -path '*.wants/*' 2>/dev/null || true)"
  [ -z "$enabled" ] || fail "units enabled by the package: $enabled"
fi
[ ! -e "$root/var/lib/systemd/deb-systemd-helper-enabled" ] || fail "deb-systemd-helper state written"
echo "package: no unit enabled"

# A second install (an upgrade to the same version) keeps the same user.
"${dpkg_root[@]}" --force-depends -i "$deb" >"$tmp/dpkg-reinstall.log" 2>&1 ||
  { cat "$tmp/dpkg-reinstall.log" >&2; fail "second dpkg -i failed"; }
[ "$(grep -c '^wsg:' "$root/etc/passwd")" = 1 ] && [ "$(grep '^wsg:' "$root/etc/passwd")" = "$passwd_line" ] ||
  fail "a reinstall changed the wsg user"
echo "package: reinstall: the same user, idempotent"

# ---- 4. the installed executables ---------------------------------------------------------------
version="$("$root/usr/bin/wsg" --version)" || fail "$root/usr/bin/wsg --version failed"
echo "package: installed wsg --version: $version"
pkg_version="$(dpkg-deb -f "$deb" Version)"
upstream="${pkg_version%-*}"  # 0.1.0-1 -> 0.1.0: PROJECT_VERSION
grep -qF "$upstream" <<<"$version" || fail "wsg --version ('$version') does not name the package's version $upstream"
if [ "$expect_bench" = 1 ]; then
  "$root/usr/bin/wsg-bench" --help >/dev/null || fail "$root/usr/bin/wsg-bench --help failed"
fi
for config in master node-1 node-2; do
  "$root/usr/bin/wsg" check-config "$root/etc/wsg/$config.toml" >"$tmp/check-$config.toml" 2>&1 ||
    { cat "$tmp/check-$config.toml" >&2; fail "wsg check-config /etc/wsg/$config.toml failed"; }
done
grep -q '^static_dir = "/usr/share/wsg/web"' "$tmp/check-node-1.toml" ||
  fail "the installed node-1.toml does not serve /usr/share/wsg/web"
echo "package: wsg check-config accepts /etc/wsg/master.toml, node-1.toml, node-2.toml"
if command -v systemd-analyze >/dev/null 2>&1; then
  # The units' syntax, against the host's systemd. On a host without the package the only complaint
  # allowed is that /usr/bin/wsg (ExecStart) is not there.
  systemd-analyze verify --man=no "$root/lib/systemd/system/wsg-master.service" \
    "$root/lib/systemd/system/wsg-node@.service" >"$tmp/verify.log" 2>&1 || true
  if grep -v 'Command /usr/bin/wsg is not executable' "$tmp/verify.log" | grep -q .; then
    sed 's/^/  /' "$tmp/verify.log" >&2
    fail "systemd-analyze verify found problems in the units"
  fi
  echo "package: systemd-analyze verify: the units are valid"
fi

# ---- 5. purge -----------------------------------------------------------------------------------
"${dpkg_root[@]}" --purge wsg >"$tmp/dpkg-purge.log" 2>&1 || { cat "$tmp/dpkg-purge.log" >&2; fail "dpkg --purge failed"; }
for p in usr/bin/wsg etc/wsg/master.toml lib/systemd/system/wsg-master.service var/lib/wsg; do
  [ ! -e "$root/$p" ] || fail "/$p left after purge"
done
grep -q '^wsg:' "$root/etc/passwd" || fail "purge removed the wsg user (it should stay)"
echo "package: purge removes the files, the conffiles and /var/lib/wsg, and leaves the user"

echo "package: OK in $(($(date +%s) - start)) s: $deb"
