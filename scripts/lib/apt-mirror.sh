# Sourced by scripts/*.sh. debian_mirror prints the Debian archive URI this machine's own apt
# sources use (deb822 .sources first, then one-line sources.list), so no script names a host.
debian_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # the stanza whose Suites are the release itself (not -security), first URI of it
        uri=$(awk '
            /^[[:space:]]*$/ { if (u != "" && s !~ /security/) { print u; exit } u=""; s=""; next }
            /^URIs:/   { u=$2 }
            /^Suites:/ { s=$0 }
            END { if (u != "" && s !~ /security/) print u }' "$f" | head -n 1)
        [ -n "$uri" ] && { echo "${uri%/}"; return 0; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {
                     for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f" | head -n 1)
        [ -n "$uri" ] && { echo "${uri%/}"; return 0; }
    done
    echo "no Debian mirror found in this machine's apt sources (/etc/apt/sources.list*)" >&2
    return 1
}
