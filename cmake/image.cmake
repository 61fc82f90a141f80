# Image decoding: libjpeg-turbo and libpng (the same decoders Pillow uses on Debian).
find_package(JPEG REQUIRED)
find_package(PNG REQUIRED)
list(APPEND VENTRAL_PRIVATE_LIBS JPEG::JPEG PNG::PNG)
