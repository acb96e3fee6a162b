#!/usr/bin/env bash
# Install everything building_extractor needs on Debian 12 (QGIS 3.22, Python 3.11) or Debian 13 (QGIS 3.40,
# Python 3.13): QGIS and GDAL-linked Python packages from Debian, then a venv (.venv, --system-site-packages) with
# torch, smp and the test tools from pip, never replacing the numpy, GDAL or Python that QGIS was built with.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck disable=SC1091
release=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-unknown}")
case "$release" in
  bookworm|trixie) echo "setup: Debian $release" ;;
  *) echo "setup: warning: tested on Debian 12 (bookworm) and 13 (trixie), this is '$release'; trying anyway" >&2 ;;
esac

DEBIAN_PACKAGES=(qgis python3-qgis qgis-providers python3-rasterio python3-fiona python3-shapely
  python3-gdal python3-pyproj python3-numpy python3-scipy python3-matplotlib python3-venv pyqt5-dev-tools
  qttools5-dev-tools
  xvfb xauth proj-data redis-server python3-owslib python3-yaml
  curl jq python3-pip)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv from /usr/bin/python3 with system site packages"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi

# pyproj looks for PROJ's data under sys.prefix, which in a venv is the venv (Debian 13's pyproj finds nothing there).
[ -e .venv/share/proj ] || { mkdir -p .venv/share && ln -s /usr/share/proj .venv/share/proj; }

# The rule is "use the numpy QGIS was built with": pin pip to the Debian numpy this Python sees (1.24 on Debian 12,
# 2.2 on Debian 13), so no package can upgrade or replace it inside the venv.
system_constraints=.venv/system-constraints.txt
/usr/bin/python3 -c 'import numpy; print(f"numpy=={numpy.__version__}")' > "$system_constraints"

stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt constraints.txt "$system_constraints" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing pip packages into .venv"
  # pip warns "... is ignored" for every system package it will not touch; drop that noise only.
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -c "$system_constraints" \
    -r requirements.txt -r requirements-dev.txt 2> >(sed '/is ignored/d' >&2)
  echo "$want" > "$stamp"
fi
.venv/bin/python - <<'PY'
import numpy, osgeo, rasterio, shapely, torch, segmentation_models_pytorch, safetensors
for module in (numpy, osgeo, rasterio, shapely):  # the builds QGIS links against, never pip wheels
    assert module.__file__.startswith("/usr/lib/python3/"), f"{module.__name__} must be Debian's, not {module.__file__}"
print(f"setup: ok (torch {torch.__version__}, smp {segmentation_models_pytorch.__version__}, "
      f"numpy {numpy.__version__}, rasterio {rasterio.__version__})")
PY
