#include <hdf5.h>
#include <string.h>

/* Swift cannot import HDF5's object-like macros that expand to function calls or casts
   (H5T_NATIVE_FLOAT is `(H5open(), H5T_NATIVE_FLOAT_g)`, H5P_DEFAULT is `(hid_t)0`, ...).
   These inline accessors expose them, named after the macro they return. */

/* Predefined memory (native) types. */
static inline hid_t mf_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t mf_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t mf_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t mf_h5t_native_int64(void) { return H5T_NATIVE_INT64; }

/* Predefined file types (explicit little-endian layouts, what h5py writes on x86/ARM). */
static inline hid_t mf_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t mf_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t mf_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t mf_h5t_c_s1(void) { return H5T_C_S1; }
static inline size_t mf_h5t_variable(void) { return H5T_VARIABLE; }

/* File access flags. */
static inline unsigned mf_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned mf_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned mf_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }

/* Default property list, "whole dataspace" selection. */
static inline hid_t mf_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t mf_h5s_all(void) { return H5S_ALL; }

/* Stops HDF5 printing its error stack to stderr for the calling thread (the library keeps one
   error stack per thread in thread-safe builds), so failures surface only as Swift errors. */
static inline void mf_h5_silence_errors(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* Walk callback: keeps the innermost (first visited when walking upward) description. */
static herr_t mf_h5_walk_first(unsigned n, const H5E_error2_t *err, void *data) {
  if (n == 0 && err != NULL && err->desc != NULL) {
    char *out = (char *)data;
    strncpy(out, err->desc, 255);
    out[255] = '\0';
  }
  return 0;
}

/* Copies the most specific message of the calling thread's current HDF5 error stack into
   `buffer` (at least 256 bytes; empty string when the stack is empty) and clears the stack. */
static inline void mf_h5_last_error(char *buffer) {
  buffer[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, mf_h5_walk_first, buffer);
  H5Eclear2(H5E_DEFAULT);
}

/* File-creation and file-access property list classes (user block, format version bounds). */
static inline hid_t mf_h5p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t mf_h5p_file_access(void) { return H5P_FILE_ACCESS; }

/* Link-creation property list class (used with H5Pset_create_intermediate_group). */
static inline hid_t mf_h5p_link_create(void) { return H5P_LINK_CREATE; }
