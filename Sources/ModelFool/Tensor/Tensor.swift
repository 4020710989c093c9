/// A dense, row-major Float32 tensor with value semantics and an optional autodiff node.
///
/// Images use the NCHW layout throughout the framework. A tensor is a constant unless it is a
/// variable (``Tensor/variable()``) or was computed from one while recording was on; then it carries
/// a ``GraphNode`` that ``gradients(of:withRespectTo:createGraph:)`` walks backwards.
public struct Tensor: Sendable {
  /// Dimensions, outermost first. `[]` is a scalar.
  public let shape: [Int]
  /// The values, contiguous in row-major order.
  public internal(set) var storage: TensorStorage
  /// The recorded operation that produced this tensor, or a leaf marker for variables.
  public internal(set) var node: GraphNode?

  /// Wraps an existing storage; `storage.count` must equal the element count of `shape`.
  public init(shape: [Int], storage: TensorStorage, node: GraphNode? = nil) {
    precondition(
      storage.count == elementCount(shape),
      "Tensor: storage holds \(storage.count) values, shape \(shape) needs \(elementCount(shape))")
    self.shape = shape
    self.storage = storage
    self.node = node
  }

  /// A tensor of `shape` holding `scalars` in row-major order.
  public init(shape: [Int], scalars: [Float]) {
    shapeCheck(
      scalars.count == elementCount(shape),
      "Tensor(shape: \(shape)) needs \(elementCount(shape)) scalars, got \(scalars.count)")
    self.init(shape: shape, storage: TensorStorage(scalars))
  }

  /// A rank-0 tensor.
  public init(_ value: Float) {
    self.init(shape: [], storage: TensorStorage(count: 1, repeating: value))
  }

  /// A rank-1 tensor.
  public init(_ scalars: [Float]) {
    self.init(shape: [scalars.count], scalars: scalars)
  }

  /// A tensor of `shape` filled with `value`.
  public init(repeating value: Float, shape: [Int]) {
    self.init(shape: shape, storage: TensorStorage(count: elementCount(shape), repeating: value))
  }

  /// All zeros.
  public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
  /// All ones.
  public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

  /// Number of dimensions.
  public var rank: Int { shape.count }
  /// Number of elements.
  public var count: Int { storage.count }
  /// The values as an array (a copy).
  public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }
  /// The only value of a one-element tensor.
  public var scalar: Float {
    shapeCheck(count == 1, "scalar: tensor of shape \(shape) has \(count) elements")
    return storage.pointer[0]
  }

  /// True when this tensor takes part in differentiation (a variable or computed from one).
  public var requiresGradient: Bool { node != nil }

  /// The same values cut from the graph: gradients never flow through the result.
  public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

  /// The same values as a fresh leaf of the graph, so gradients can be taken with respect to it.
  public func variable() -> Tensor {
    Tensor(shape: shape, storage: storage, node: GraphNode(leafShape: shape))
  }

  /// Read-only access to the contiguous values.
  @inlinable
  public func withUnsafeScalars<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try body(UnsafeBufferPointer(start: storage.pointer, count: count))
  }

  /// Mutable access; copies the storage first if another tensor shares it. Cuts the graph.
  public mutating func withUnsafeMutableScalars<R>(
    _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    node = nil
    return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
  }
}

extension Tensor {
  /// A tensor whose values are written by `fill` into a fresh, uninitialised buffer.
  @inlinable
  static func build(
    shape: [Int], _ fill: (UnsafeMutablePointer<Float>) throws -> Void
  ) rethrows -> Tensor {
    let storage = TensorStorage(uninitializedCount: elementCount(shape))
    try fill(storage.pointer)
    return Tensor(shape: shape, storage: storage)
  }
}
