import CBLAS

/// The threads OpenBLAS uses for matrix products. The engine's own kernels run on the calling
/// thread; OpenBLAS starts with one thread per core unless `OPENBLAS_NUM_THREADS` says otherwise.
public enum BLASThreads {
  /// Sets the number of OpenBLAS threads (at least 1).
  public static func set(_ count: Int) { openblas_set_num_threads(Int32(max(count, 1))) }

  /// The number of threads OpenBLAS uses now.
  public static var count: Int { Int(openblas_get_num_threads()) }
}
