// oneDNN's C API (Debian libdnnl-dev 2.6, built with the OpenMP CPU runtime). The package ships no
// pkg-config file, so the header and library are found on the default paths.
#include <oneapi/dnnl/dnnl.h>

// oneDNN's OpenMP runtime takes its thread count from the calling thread's OpenMP setting
// (libgomp, a dependency of libdnnl; omp.h is not on clang's include path here).
void omp_set_num_threads(int);
int omp_get_max_threads(void);
