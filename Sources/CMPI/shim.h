// Open MPI for Swift. MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM and friends are macros over addresses of
// library globals, which Swift does not import: these inline functions hand them over.
#include <mpi.h>

static inline MPI_Comm mf_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype mf_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype mf_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype mf_mpi_int(void) { return MPI_INT; }
static inline MPI_Op mf_mpi_sum(void) { return MPI_SUM; }
static inline void *mf_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status *mf_mpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline int mf_mpi_success(void) { return MPI_SUCCESS; }
static inline int mf_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
