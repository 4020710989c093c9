import ArgumentParser
import ModelFool
import ModelFoolData
import ModelFoolTraining

// Option values that are a closed set parse straight into the library's enums: a wrong value is
// refused before anything runs, with the valid values listed.

extension ExplanationMethod: ExpressibleByArgument {
  /// A method name; `gradient` is Dombrowski et al.'s name for SimpleGrad.
  public init?(argument: String) {
    if argument == "gradient" { self = .simpleGrad; return }
    guard let method = try? ExplanationMethod(parsing: argument) else { return nil }
    self = method
  }
}

extension PerturbationNorm: ExpressibleByArgument {}
extension AttackTarget: ExpressibleByArgument {}
extension ExplainedClass: ExpressibleByArgument {}
extension ExplainedOutput: ExpressibleByArgument {}
extension KeptOutputs: ExpressibleByArgument {}
extension KeepDistance: ExpressibleByArgument {}
extension VerdictRule: ExpressibleByArgument {}
extension ILSVRCFolder.Split: ExpressibleByArgument {}

/// A fooling objective's name, checked against the registry (``FoolingObjectives``).
struct ObjectiveArgument: ExpressibleByArgument {
  var name: String
  init?(argument: String) {
    guard FoolingObjectives.names.contains(argument) else { return nil }
    name = argument
  }
  static var allValueStrings: [String] { FoolingObjectives.names }
}


/// A comma-separated list (`simplegrad,lrp`, `3,8`, `sex,race`) of values of one type.
struct CommaList<Element: ExpressibleByArgument>: ExpressibleByArgument {
  var values: [Element]
  init?(argument: String) {
    var values: [Element] = []
    for part in argument.split(separator: ",", omittingEmptySubsequences: true) {
      guard let value = Element(argument: part.trimmingCharacters(in: .whitespaces)) else { return nil }
      values.append(value)
    }
    guard !values.isEmpty else { return nil }
    self.values = values
  }
  static var allValueStrings: [String] { Element.allValueStrings }
}

/// A softplus beta: a positive number, or `inf` / `relu` for the plain ReLU network (nil).
struct Beta: ExpressibleByArgument {
  var value: Float?
  init?(argument: String) {
    if argument == "inf" || argument == "relu" { value = nil; return }
    guard let v = Float(argument), v > 0, v.isFinite else { return nil }
    value = v
  }
}

/// `FROM,TO` of an exponential beta growth.
struct BetaGrowth: ExpressibleByArgument {
  var from: Float, to: Float
  init?(argument: String) {
    let parts = argument.split(separator: ",").compactMap { Float($0) }
    guard parts.count == 2, parts.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
    (from, to) = (parts[0], parts[1])
  }
}

/// A number written as a decimal (`0.03`) or a fraction (`8/255`, a budget in pixel units).
struct Fraction: ExpressibleByArgument {
  var value: Float
  init?(argument: String) {
    let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
    guard (1...2).contains(parts.count), let top = Float(parts[0]) else { return nil }
    guard parts.count == 2 else { value = top; return }
    guard let bottom = Float(parts[1]), bottom != 0 else { return nil }
    value = top / bottom
  }
}
