import Foundation

/// A progress bar on standard error: `label [#####.....] 120/500 loss 0.31 acc 0.95 812 it/s ETA 0:04`.
///
/// On a terminal it redraws one line; otherwise (CI logs, pipes) it prints a line at most every
/// 10 seconds and at the end, so logs stay short. Silent when `enabled` is false (`--quiet`, `--json`).
final class ProgressBar {
  let label: String
  let total: Int
  let unit: String
  private let enabled: Bool
  private let interactive: Bool
  private let start = Date()
  private var lastDraw = Date.distantPast
  private var lastDecile = -1

  /// - Parameters: label shown first, total number of steps, unit of the rate ("it", "img").
  init(label: String, total: Int, unit: String = "it", enabled: Bool = true) {
    self.label = label
    self.total = max(total, 1)
    self.unit = unit
    self.enabled = enabled
    interactive = isatty(STDERR_FILENO) == 1
  }

  /// Redraws with `done` of `total` steps and the given metrics (name, formatted value).
  func update(_ done: Int, items: Int? = nil, metrics: [(String, String)] = []) {
    guard enabled else { return }
    let now = Date()
    let fraction = Double(min(done, total)) / Double(total)
    let decile = Int(fraction * 10)
    if interactive {
      guard done >= total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
    } else {
      guard done >= total || (decile > lastDecile && now.timeIntervalSince(lastDraw) >= 10) else { return }
    }
    lastDraw = now
    lastDecile = decile
    let elapsed = now.timeIntervalSince(start)
    let rate = Double(items ?? done) / max(elapsed, 1e-9)
    let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
    let width = 24
    let filled = Int(fraction * Double(width))
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    let stats = metrics.map { "\($0.0) \($0.1)" }.joined(separator: " ")
    let line = "\(label) [\(bar)] \(min(done, total))/\(total) \(stats) \(String(format: "%.0f", rate)) \(unit)/s ETA \(Self.clock(eta))"
    StandardError.write((interactive ? "\r\u{1B}[K" : "") + line + (interactive ? "" : "\n"))
  }

  /// Ends the line (terminal mode) and prints the total time.
  func finish(_ summary: String = "") {
    guard enabled else { return }
    let elapsed = Date().timeIntervalSince(start)
    let text = (interactive ? "\n" : "") + "\(label) done in \(Self.clock(elapsed))\(summary.isEmpty ? "" : ": " + summary)\n"
    StandardError.write(text)
  }

  /// `m:ss` (or `h:mm:ss`).
  static func clock(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600
      ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
  }
}
