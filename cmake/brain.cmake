# Brain data I/O (issue 4): HDF5 store, NSD formats (MATLAB v5 via matio, NIfTI via nifticlib),
# Brain-Score NetCDF assemblies (netCDF-C) and release fetching (libcurl).
pkg_check_modules(VT_HDF5 REQUIRED hdf5)
pkg_check_modules(VT_MATIO REQUIRED matio)
pkg_check_modules(VT_NETCDF REQUIRED netcdf)
pkg_check_modules(VT_CURL REQUIRED libcurl)
pkg_check_modules(VT_ZLIB REQUIRED zlib)
# nifticlib ships no pkg-config file on Debian.
find_path(VT_NIFTI_INCLUDE nifti2_io.h PATH_SUFFIXES nifti REQUIRED)
find_library(VT_NIFTI2_LIB nifti2 REQUIRED)
find_library(VT_ZNZ_LIB znz REQUIRED)

list(APPEND VENTRAL_PRIVATE_LIBS ${VT_HDF5_LINK_LIBRARIES} ${VT_MATIO_LINK_LIBRARIES} ${VT_NETCDF_LINK_LIBRARIES}
     ${VT_CURL_LINK_LIBRARIES} ${VT_NIFTI2_LIB} ${VT_ZNZ_LIB} ${VT_ZLIB_LINK_LIBRARIES})
list(APPEND VENTRAL_EXTRA_INCLUDES ${VT_HDF5_INCLUDE_DIRS} ${VT_MATIO_INCLUDE_DIRS} ${VT_NETCDF_INCLUDE_DIRS}
     ${VT_CURL_INCLUDE_DIRS} ${VT_NIFTI_INCLUDE})
