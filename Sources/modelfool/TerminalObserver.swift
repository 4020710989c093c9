import Foundation
import ModelFoolTraining

/// The command-line observer: messages as lines on standard error, progress as one bar per loop.
final class TerminalObserver: @unchecked Sendable {
  private let lock = NSLock()
  private var bars: [String: ProgressBar] = [:]

  /// A run observer that writes to standard error.
  static func make() -> RunObserver {
    let terminal = TerminalObserver()
    return RunObserver { terminal.handle($0) }
  }

  /// A metric as the progress bar shows it.
  static func format(_ value: RunMetric.Value) -> String {
    switch value {
    case .loss(let v): String(format: "%.4g", v)
    case .fraction(let v): String(format: "%.3f", v)
    case .number(let v): String(format: "%.3g", v)
    case .text(let word): word
    }
  }

  private func handle(_ event: RunEvent) {
    lock.lock()
    defer { lock.unlock() }
    switch event {
    case .message(let line): logLine(line)
    case .progress(let p):
      let bar = bars[p.task] ?? ProgressBar(label: p.task, total: p.total, unit: p.unit)
      bars[p.task] = bar
      guard p.done > 0 else { return }  // a loop's start: the bar's clock starts, nothing to draw
      bar.update(p.done, items: p.items, metrics: p.metrics.map { ($0.name, Self.format($0.value)) })
    case .finished(let task, let summary):
      bars.removeValue(forKey: task)?.finish(summary)
    }
  }
}

/// Writes one line to standard error.
func logLine(_ text: String) {
  StandardError.write(text + "\n")
}

/// The CLI's one writer of standard error (progress, messages, errors), one write at a time; after
/// ``writeLast(_:)`` (a final error line: a signal's, a failed command's, an MPI abort) nothing more
/// is written, so a progress line from the run's thread cannot follow the error before the exit.
enum StandardError {
  private final class State: @unchecked Sendable {
    let lock = NSLock()
    var closed = false
  }
  private static let state = State()

  static func write(_ text: String) {
    state.lock.lock()
    defer { state.lock.unlock() }
    if !state.closed { FileHandle.standardError.write(Data(text.utf8)) }
  }

  /// Writes `text` and closes: later writes are dropped.
  static func writeLast(_ text: String) {
    state.lock.lock()
    defer { state.lock.unlock() }
    if !state.closed { FileHandle.standardError.write(Data(text.utf8)) }
    state.closed = true
  }
}
