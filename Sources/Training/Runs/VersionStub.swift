import ModelFool
enum ModelFoolVersion { static let description = "stub" }  // removed when the version target lands
extension ExplanationMethod { var ignoresBeta: Bool { self == .lrp || self == .lrpTarget } }
