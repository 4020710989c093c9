/// Fully connected layer `y = x Wᵀ + b`.
///
/// Layout (PyTorch's): `weight` `[outputSize, inputSize]`, `bias` `[outputSize]`; input
/// `[N, inputSize]` (higher ranks are treated as `[..., inputSize]`).
public final class Dense: Layer {
  /// Number of input features.
  public let inputSize: Int
  /// Number of output features.
  public let outputSize: Int
  /// `[outputSize, inputSize]`.
  public let weight: Parameter
  /// `[outputSize]`, or `nil` without bias.
  public let bias: Parameter?

  /// A dense layer with seeded initialisation (PyTorch's default unless `initialization` says
  /// otherwise).
  public init(
    inputSize: Int, outputSize: Int, bias: Bool = true, seed: UInt64 = 0,
    initialization: WeightInitialization = .pytorchDefault
  ) {
    precondition(inputSize > 0 && outputSize > 0, "Dense: sizes must be positive, got \(inputSize) -> \(outputSize)")
    var g = SeededGenerator(seed: seed)
    self.inputSize = inputSize
    self.outputSize = outputSize
    weight = Parameter(initialization.weight([outputSize, inputSize], fanIn: inputSize, fanOut: outputSize, using: &g))
    self.bias = bias ? Parameter(initialization.bias(outputSize, fanIn: inputSize, using: &g)) : nil
  }

  /// A dense layer with the given weight `[out, in]` and optional bias `[out]`.
  public init(weight: Tensor, bias: Tensor? = nil) {
    precondition(weight.rank == 2, "Dense: weight must be [out, in], got \(weight.shape)")
    precondition(bias == nil || bias!.shape == [weight.shape[0]], "Dense: bias \(bias!.shape) does not match weight \(weight.shape)")
    outputSize = weight.shape[0]
    inputSize = weight.shape[1]
    self.weight = Parameter(weight)
    self.bias = bias.map { Parameter($0) }
  }

  private init(copying other: Dense) {
    inputSize = other.inputSize
    outputSize = other.outputSize
    weight = other.weight.copy()
    bias = other.bias?.copy()
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    precondition(x.shape.last == inputSize, "shape error: Dense(\(inputSize) -> \(outputSize)): input \(x.shape) does not end in \(inputSize)")
    let flat = x.rank == 2 ? x : x.reshaped([-1, inputSize])
    var y = Tensor.matmul(flat, weight.value, transposeB: true)
    if let bias { y = y + bias.value }
    return x.rank == 2 ? y : y.reshaped(Array(x.shape.dropLast()) + [outputSize])
  }

  public var localParameters: [(name: String, parameter: Parameter)] {
    [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
  }

  public func deepCopy() -> Dense { Dense(copying: self) }
}
