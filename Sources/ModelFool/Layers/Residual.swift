/// A residual block with an explicit addition (He et al. 2016):
/// `y = post(body(x) + shortcut(x))`, where `body` is a chain of named layers, `shortcut` is the
/// identity (`nil`) or a projection, and `post` an optional layer after the sum (ResNet's final
/// ReLU; `nil` for MobileNet/EfficientNet blocks).
///
/// The body's layers are direct children (so torchvision's names `layer1.0.conv1.weight` and
/// `layer1.0.downsample.0.weight` come out as in PyTorch). The addition is explicit so that LRP
/// can split relevance between `body` and `shortcut` (Heo et al.: in proportion to positive
/// parts).
public final class Residual: Layer {
  /// The main branch, called in order.
  public let body: [(name: String, layer: any Layer)]
  /// The projection branch (e.g. `("downsample", Sequential[conv1x1, bn])`), or `nil` for identity.
  public let shortcut: (name: String, layer: any Layer)?
  /// The layer applied after the sum (e.g. `("relu", ActivationLayer(.relu))`), or `nil`.
  public let post: (name: String, layer: any Layer)?

  /// A residual block; names must be unique and free of dots.
  public init(
    body: [(String, any Layer)], shortcut: (String, any Layer)? = nil, post: (String, any Layer)? = nil
  ) {
    self.body = body.map { (name: $0.0, layer: $0.1) }
    self.shortcut = shortcut.map { (name: $0.0, layer: $0.1) }
    self.post = post.map { (name: $0.0, layer: $0.1) }
    let names = children.map(\.name)
    precondition(
      Set(names).count == names.count && names.allSatisfy { !$0.isEmpty && !$0.contains(".") },
      "Residual: child names must be unique, non-empty and without dots: \(names)")
  }

  /// The main branch alone, `body(x)`.
  public func bodyOutput(_ x: Tensor) -> Tensor { callChain(body, x) }

  /// The shortcut branch alone, `shortcut(x)` (`x` for identity).
  public func shortcutOutput(_ x: Tensor) -> Tensor {
    shortcut.map { ActivationTap.call($0.layer, named: $0.name, x) } ?? x
  }

  /// A ReLU after the sum runs with it in one pass (``Tensor/sumReLU(_:_:)``) unless the active
  /// tap refers to it.
  public func callAsFunction(_ x: Tensor) -> Tensor {
    let (b, s) = (bodyOutput(x), shortcutOutput(x))
    if let post, isPlainReLU(post.layer), !(ActivationTap.current?.refers(toChild: post.name) ?? false)
    {
      return Tensor.sumReLU(b, s)
    }
    let sum = b + s
    return post.map { ActivationTap.call($0.layer, named: $0.name, sum) } ?? sum
  }

  public var children: [(name: String, layer: any Layer)] {
    body + (shortcut.map { [$0] } ?? []) + (post.map { [$0] } ?? [])
  }

  public func deepCopy() -> Residual {
    Residual(
      body: body.map { ($0.name, $0.layer.deepCopy()) },
      shortcut: shortcut.map { ($0.name, $0.layer.deepCopy()) },
      post: post.map { ($0.name, $0.layer.deepCopy()) })
  }
}
