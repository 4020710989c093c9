/// Implementation note: the graph is recorded define-by-run. Each op that sees a recorded input
/// (and finds recording on) attaches a `GraphNode` to its output. The node keeps an edge to each
/// input (its node and shape) and a vector-Jacobian product written only with differentiable
/// `Tensor` ops, so the gradient it returns is itself recorded when the backward pass runs with
/// `createGraph: true`: that is what makes gradients of gradients (double backprop) work without
/// any second-order code.
///
/// A node holds no tensor values of its own: the VJP captures the tensors it reads (a
/// convolution's input and weight, a product's factors) and the output only when it asks for it
/// (``Tensor/recordKeepingOutput(_:_:inputs:vjp:)``). An activation that no VJP reads (a
/// convolution's output before its ReLU, a sum's operands) is freed as soon as the forward pass
/// has used it, as in PyTorch's saved tensors.

/// A recorded operation: its inputs and its vector-Jacobian product.
public final class GraphNode: @unchecked Sendable {
  /// The op's name, for error messages and graph dumps.
  public let name: String
  /// The op's inputs: their nodes (so the graph stays reachable) and shapes, not their values.
  let inputs: [GraphEdge]
  /// Shape of the op's output.
  let shape: [Int]
  /// Given the gradient of the output (and the output itself), the gradients of each input,
  /// `nil` where an input gets none. `nil` for leaves (variables).
  let vjp: (@Sendable (_ gradient: Tensor, _ output: Tensor?) -> [Tensor?])?
  /// The output's values, kept only for VJPs such as exp's that reuse the result.
  let outputStorage: TensorStorage?

  init(leafShape: [Int]) {
    name = "variable"
    inputs = []
    shape = leafShape
    vjp = nil
    outputStorage = nil
  }

  init(
    name: String, inputs: [Tensor], shape: [Int], outputStorage: TensorStorage?,
    vjp: @escaping @Sendable (_ gradient: Tensor, _ output: Tensor?) -> [Tensor?]
  ) {
    self.name = name
    self.inputs = inputs.map { GraphEdge(node: $0.node, shape: $0.shape) }
    self.shape = shape
    self.vjp = vjp
    self.outputStorage = outputStorage
  }

  /// True for variables (nodes without an op).
  public var isLeaf: Bool { vjp == nil }
}

/// An input of a recorded op as the backward pass needs it: the node that made it (nil for a
/// constant) and its shape.
struct GraphEdge {
  let node: GraphNode?
  let shape: [Int]
}

/// Whether ops record graph nodes in the current task (see ``withoutRecording(_:)``).
public enum GradientRecording {
  @TaskLocal public static var isEnabled = true
}

/// Runs `body` without recording: results are constants, which saves memory and time in
/// evaluation and inside optimiser updates.
public func withoutRecording<R>(_ body: () throws -> R) rethrows -> R {
  try GradientRecording.$isEnabled.withValue(false, operation: body)
}

/// Which inputs of the node whose VJP is running need a gradient, set by ``gradients(of:withRespectTo:seed:createGraph:)``
/// (nil outside a backward pass: all of them). A node's inputs often include tensors that are
/// recorded but lead to no target, e.g. the weights while a saliency map takes the gradient
/// with respect to the input: the VJPs of the GEMM ops skip those products instead of computing
/// and dropping them.
enum VJPDemand {
  @TaskLocal static var needed: [Bool]?
}

extension Tensor {
  /// Whether a VJP must produce the gradient of its `index`-th input `t`: `t` is recorded and the
  /// running backward pass wants it (``VJPDemand``).
  @inline(__always)
  static func wantsGradient(_ t: Tensor, input index: Int) -> Bool {
    t.node != nil && (VJPDemand.needed?[index] ?? true)
  }

  /// Attaches a node to `result` if recording is on and any input is recorded.
  ///
  /// Every primitive ends with this call (or ``recordKeepingOutput(_:_:inputs:vjp:)``);
  /// compositions of primitives need nothing. `vjp` maps the output's gradient to the inputs';
  /// it must capture the input tensors it reads and only those (capturing an input to read its
  /// shape keeps its values alive until the graph goes).
  @inline(__always)
  static func record(
    _ name: String, _ result: Tensor, inputs: [Tensor],
    vjp: @escaping @Sendable (_ gradient: Tensor) -> [Tensor?]
  ) -> Tensor {
    attach(name, result, inputs: inputs, keepingOutput: false) { g, _ in vjp(g) }
  }

  /// ``record(_:_:inputs:vjp:)`` for a VJP that reads the op's output (exp, sqrt, tanh, ...),
  /// which the node then keeps; the output comes with its node, so it is differentiable again.
  @inline(__always)
  static func recordKeepingOutput(
    _ name: String, _ result: Tensor, inputs: [Tensor],
    vjp: @escaping @Sendable (_ gradient: Tensor, _ output: Tensor) -> [Tensor?]
  ) -> Tensor {
    attach(name, result, inputs: inputs, keepingOutput: true) { g, out in vjp(g, out!) }
  }

  @inline(__always)
  private static func attach(
    _ name: String, _ result: Tensor, inputs: [Tensor], keepingOutput: Bool,
    vjp: @escaping @Sendable (_ gradient: Tensor, _ output: Tensor?) -> [Tensor?]
  ) -> Tensor {
    guard inputs.contains(where: { $0.node != nil }), GradientRecording.isEnabled else {
      return result
    }
    var out = result
    out.node = GraphNode(
      name: name, inputs: inputs, shape: result.shape, outputStorage: keepingOutput ? result.storage : nil, vjp: vjp)
    return out
  }
}
