# Installed later in the interfaces work (find_package(Canopy), canopy.pc).
