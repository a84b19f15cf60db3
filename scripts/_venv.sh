# Sourced by the scripts: make .venv with ringcast installed at the versions pinned in
# constraints.txt (./scripts/lock writes it), reinstalling only when pyproject.toml or
# constraints.txt changes. Works on a fresh Debian machine with Python 3.11.
set -euo pipefail

ensure_venv() {
    local extras="$1"
    local py="${PYTHON:-python3}"
    if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "ringcast needs Python 3.11 or newer as '$py' (set PYTHON to choose another)" >&2
        exit 1
    fi
    if [ ! -x .venv/bin/python ]; then
        if ! "$py" -m venv .venv 2>/dev/null; then
            # Debian ships venv separately; install it when we are allowed to.
            rm -rf .venv
            local sudo=""
            [ "$(id -u)" -eq 0 ] || sudo="sudo"
            echo "installing python3-venv (Debian splits it from python3)..." >&2
            $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-venv >/dev/null
            "$py" -m venv .venv
        fi
    fi
    local stamp=".venv/.ringcast-installed$extras"
    local want
    want="$({ cat pyproject.toml; cat constraints.txt 2>/dev/null || true; } | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "installing ringcast$extras into .venv ..." >&2
        .venv/bin/python -m pip install -q --upgrade pip >/dev/null
        local pins=()
        [ -f constraints.txt ] && pins=(--constraint constraints.txt)
        .venv/bin/python -m pip install -q "${pins[@]}" -e ".$extras"
        echo "$want" > "$stamp"
    fi
}
