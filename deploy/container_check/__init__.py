"""deploy/container-check: builds the images and runs the compose stack for real with podman."""
