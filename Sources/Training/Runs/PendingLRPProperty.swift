import ModelFool

// Until the LRP-as-data change lands, which declares it in ModelFool.
extension ExplanationMethod {
  var usesBetaSmoothing: Bool { self != .lrp && self != .lrpTarget }
}
