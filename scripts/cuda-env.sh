# Sourced by the device scripts: puts the CUDA toolkit's libraries (NVRTC, which cudarc loads at
# run time) on LD_LIBRARY_PATH, wherever the device image has them. Safe under `set -e`.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib; do
    if [ -d "$d" ]; then export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"; fi
done
