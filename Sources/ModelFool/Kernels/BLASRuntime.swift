import CBLAS
import Foundation

/// The OpenBLAS library this process runs on: its thread count and the kernel family it picked.
/// The engine puts OpenBLAS on one thread before its first GEMM and splits the GEMM work over its
/// own pool (``EngineThreads``); ``setThreads(_:)`` changes that for callers who want OpenBLAS's.
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

  /// OpenBLAS kernel families without AVX2 (SSE-only or AVX1 kernels): what a DYNAMIC_ARCH build
  /// falls back to on a CPU model it does not know (Debian's 0.3.21 on recent Xeons: `Prescott`).
  static let genericCores: Set<String> = [
    "prescott", "nehalem", "core2", "penryn", "dunnington", "atom", "katmai", "coppermine",
    "northwood", "banias", "opteron", "opteron_sse3", "barcelona", "bobcat", "sandybridge",
    "generic", "unknown",
  ]

  /// A one-line warning, or nil: OpenBLAS runs a generic kernel family on a CPU whose instruction
  /// set (`cpuFlags`, the `flags` of /proc/cpuinfo) has AVX-512 or AVX2 + FMA, and the user did
  /// not choose the core type (`OPENBLAS_CORETYPE` unset in `environment`). Matrix products then
  /// run at a fraction of the CPU's speed (here 34 instead of 155 GFLOP/s). The library never
  /// prints it and never sets the variable: the CLI prints it once.
  public static func genericCoreWarning(
    core: String = coreName, cpuFlags: Set<String>? = nil,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) -> String? {
    if let chosen = environment["OPENBLAS_CORETYPE"], !chosen.isEmpty { return nil }
    guard genericCores.contains(core.lowercased()) else { return nil }
    let flags = cpuFlags ?? cpuInfoFlags()
    let remedy: String
    if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) {
      remedy = "SkylakeX"
    } else if flags.isSuperset(of: ["avx2", "fma"]) {
      remedy = "Haswell"
    } else {
      return nil
    }
    let isa = remedy == "SkylakeX" ? "AVX-512" : "AVX2"
    return "warning: OpenBLAS runs its generic '\(core)' kernels on this \(isa) CPU (it does not know the CPU model), so matrix products run at a fraction of the CPU's speed; set OPENBLAS_CORETYPE=\(remedy) in the environment"
  }

  /// The instruction-set flags of the first processor in /proc/cpuinfo (empty where unreadable).
  public static func cpuInfoFlags(path: String = "/proc/cpuinfo") -> Set<String> {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    for line in text.split(separator: "\n") where line.hasPrefix("flags") {
      guard let colon = line.firstIndex(of: ":") else { continue }
      return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
    return []
  }
}
