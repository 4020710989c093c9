/// Printing: the shape and the first values, enough to debug without flooding a terminal.
extension Tensor: CustomStringConvertible {
  public var description: String {
    let shown = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
    return "Tensor(shape: \(shape), [\(shown)\(count > 8 ? ", ..." : "")]\(requiresGradient ? ", recorded" : ""))"
  }
}
