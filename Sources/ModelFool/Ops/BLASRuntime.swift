import CBLAS

/// The OpenBLAS library this process runs on: its thread count and the kernel family it picked.
/// The engine's own kernels run on the calling thread; OpenBLAS starts with one thread per core
/// unless `OPENBLAS_NUM_THREADS` says otherwise.
public enum BLASRuntime {
  /// Sets the number of OpenBLAS threads (at least 1).
  public static func setThreads(_ count: Int) { openblas_set_num_threads(Int32(max(count, 1))) }

  /// The number of threads OpenBLAS uses now.
  public static var threads: Int { Int(openblas_get_num_threads()) }

  /// The kernel family OpenBLAS picked at run time (`openblas_get_corename`, e.g. `Haswell`,
  /// `SkylakeX`, `Prescott`); `OPENBLAS_CORETYPE` overrides it. Reported beside every timing.
  public static var coreName: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
  }
}
