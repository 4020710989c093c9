/// Implementation note: a graph is evaluated in two modes with the same code. *Checking* (at
/// build time, for batch sizes 1 and 2) carries only the shapes of float tensors, computes every
/// output shape and throws a ``GraphError`` naming the node when something does not fit; *running*
/// carries the tensors of the recorded graph. Integer tensors (shapes, axes, indices: the
/// `Shape → Gather → Unsqueeze → Concat → Reshape` chains of exporters) are computed exactly in
/// both modes, outside the differentiable graph, so shape arithmetic follows the batch size of
/// each call while every float op is an engine op (differentiable to any order).

/// An integer tensor of shape arithmetic (row-major values).
public struct IntTensor: Sendable, Equatable {
  /// Its shape.
  public var shape: [Int]
  /// Its values.
  public var values: [Int]

  /// A tensor; `values.count` must equal the element count of `shape`.
  public init(shape: [Int], values: [Int]) {
    self.shape = shape
    self.values = values
  }
}

/// A value flowing along a graph edge.
enum GraphValue {
  /// A float tensor of the recorded graph (running).
  case tensor(Tensor)
  /// A float tensor known by its shape only (checking).
  case shape([Int])
  /// Integers of shape arithmetic.
  case ints(IntTensor)

  /// The shape of a float value, nil for integers.
  var floatShape: [Int]? {
    switch self {
    case .tensor(let t): t.shape
    case .shape(let s): s
    case .ints: nil
    }
  }

  /// A float tensor mapped by `f` (shapes and integers unchanged).
  func map(_ f: (Tensor) -> Tensor) -> GraphValue {
    if case .tensor(let t) = self { return .tensor(f(t)) }
    return self
  }

  /// The shape, whatever the kind.
  var anyShape: [Int] {
    switch self {
    case .tensor(let t): t.shape
    case .shape(let s): s
    case .ints(let i): i.shape
    }
  }
}

/// The largest element count of any tensor of a graph (2^31): larger shapes are refused when the
/// graph is checked, before anything is allocated.
public let graphMaximumElements = 1 << 31

/// The element count of `shape` with overflow checks; a negative dimension or more than
/// ``graphMaximumElements`` is a ``GraphError`` starting with `what`.
public func checkedElementCount(_ shape: [Int], _ what: @autoclosure () -> String) throws -> Int {
  var n = 1
  for d in shape {
    guard d >= 0 else { throw GraphError("\(what()): negative dimension in shape \(shape)") }
    let (p, overflow) = n.multipliedReportingOverflow(by: d)
    guard !overflow, p <= graphMaximumElements else {
      throw GraphError("\(what()): shape \(shape) has more than 2^31 elements")
    }
    n = p
  }
  return n
}

/// The largest integer tensor of shape arithmetic (2^20 values; shapes have a handful).
let graphMaximumIntegers = 1 << 20

/// The largest float tensor a graph may compute for the batches of 1 and 2 it is checked with
/// (2^27 values, 512 MiB: VGG-16's largest activation at 224x224 has 3.2 million per image).
let graphMaximumCheckedActivation = 1 << 27

/// The element count of an integer tensor's `shape`, refused beyond ``graphMaximumIntegers``.
func checkedIntegerCount(_ shape: [Int], _ what: @autoclosure () -> String) throws -> Int {
  let n = try checkedElementCount(shape, what())
  guard n <= graphMaximumIntegers else { throw GraphError("\(what()): an integer tensor of shape \(shape) is too large for shape arithmetic") }
  return n
}

/// `axis` (negative counts from the end) normalised into `0..<rank`, or a one-line error.
func normalizedGraphAxis(_ axis: Int, rank: Int, _ what: @autoclosure () -> String) throws -> Int {
  let a = axis < 0 ? axis + rank : axis
  guard a >= 0, a < rank else { throw GraphError("\(what()): axis \(axis) is out of range for rank \(rank)") }
  return a
}
