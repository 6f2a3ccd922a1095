# Shared set-up for scripts/test and scripts/demo: system packages, the venv, the package.
# Sourced, not run. Installs what is missing when it may (root, or sudo without a
# password); otherwise says exactly what to run.

# Debian packages the tests and the demo need.
SYSTEM_PACKAGES_TEST="prosody slapd ldap-utils chromium"
SYSTEM_PACKAGES_DEMO="prosody"

_as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 126
    fi
}

_missing_packages() {
    local package missing=""
    for package in $1; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
            || missing="$missing $package"
    done
    echo "$missing"
}

ensure_system_packages() {
    local missing
    missing=$(_missing_packages "$1")
    [ -z "$missing" ] && return 0
    echo "Installing system packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    if ! _as_root apt-get install -y -q $missing >/dev/null; then
        _as_root apt-get update -q >/dev/null || true
        # shellcheck disable=SC2086
        _as_root apt-get install -y -q $missing >/dev/null || {
            echo "Could not install:$missing. Run as root: apt-get install -y$missing" >&2
            exit 1
        }
    fi
}

ensure_venv() {
    local extras=$1 python=${PYTHON:-python3}
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "Python 3.11 or newer is needed (found: $("$python" --version 2>&1))." >&2
        exit 1
    fi
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv 2>/dev/null || {
            # Debian's own Python makes venvs only with python3-venv installed
            ensure_system_packages python3-venv
            rm -rf .venv
            "$python" -m venv .venv
        }
    fi
    # reinstall only when the project's dependencies changed
    local stamp=".venv/.installed-${extras:-base}"
    local wanted
    wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        echo "Installing the helpdesk into .venv ..."
        .venv/bin/python -m pip install -q --upgrade pip
        local target="."
        [ -n "$extras" ] && target=".[$extras]"
        .venv/bin/python -m pip install -q -e "$target"
        echo "$wanted" > "$stamp"
    fi
}
