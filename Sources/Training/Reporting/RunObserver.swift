import Foundation

/// One step of a long loop: what a progress bar shows.
public struct RunProgress: Sendable {
  /// The loop's name (`finetune location/gradcam`, `epoch 3/15`, ...).
  public var task: String
  /// Steps done and the total.
  public var done: Int
  public var total: Int
  /// Items processed so far when the rate is counted in items rather than steps (images).
  public var items: Int?
  /// Unit of the rate: `it` (steps) or `img`.
  public var unit: String
  /// Latest metrics, as numbers, in display order (the caller formats them).
  public var metrics: [RunMetric]

  /// A progress report; `items` and `unit` default to counting steps.
  public init(task: String, done: Int, total: Int, items: Int? = nil, unit: String = "it", metrics: [RunMetric] = []) {
    self.task = task
    self.done = done
    self.total = total
    self.items = items
    self.unit = unit
    self.metrics = metrics
  }
}

/// One named figure of a progress report, with what kind of number it is (so a terminal, a
/// notebook or a log can format it without parsing text back).
public struct RunMetric: Sendable, Equatable {
  public enum Value: Sendable, Equatable {
    /// A loss or loss term (unbounded, positive).
    case loss(Double)
    /// A fraction in [0, 1] (accuracy).
    case fraction(Double)
    /// Any other number.
    case number(Double)
    /// A word (the method being scored, `relu` for no smoothing).
    case text(String)
  }

  public var name: String
  public var value: Value

  public init(_ name: String, _ value: Value) {
    self.name = name
    self.value = value
  }
}

/// What a run tells its caller while it works.
public enum RunEvent: Sendable {
  /// A line for the user: a default that was resolved, a model trained first, a file skipped.
  case message(String)
  /// A loop advanced; every loop first reports `done` 0 when it starts (the clock of its rate).
  case progress(RunProgress)
  /// The loop `task` ended; `summary` (may be empty) sums it up in a few words.
  case finished(task: String, summary: String)
}

/// Receives a run's messages and progress. The library never prints: the command-line tool
/// supplies an observer that draws progress bars on standard error; a notebook, a sweep or rank 0
/// of a distributed job supplies its own; ``silent`` drops everything.
public struct RunObserver: Sendable {
  /// Called for every event, on the thread that runs the loop.
  public let handle: @Sendable (RunEvent) -> Void

  /// An observer calling `handle` for every event.
  public init(_ handle: @escaping @Sendable (RunEvent) -> Void) { self.handle = handle }

  /// Drops every event.
  public static let silent = RunObserver { _ in }

  /// Sends ``RunEvent/message(_:)``.
  public func message(_ line: String) { handle(.message(line)) }

  /// Sends ``RunEvent/progress(_:)``.
  public func progress(_ progress: RunProgress) { handle(.progress(progress)) }

  /// Sends ``RunEvent/finished(task:summary:)``.
  public func finished(_ task: String, summary: String = "") { handle(.finished(task: task, summary: summary)) }
}
