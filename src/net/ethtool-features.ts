// The offload switches of [Link] and the ethtool feature strings they set (a name ending in '-' is a prefix:
// every feature starting with it, as TransmitChecksumOffload= sets all tx-checksum-* features).

export const FEATURE_KEYS: Readonly<Record<string, string>> = {
  ReceiveChecksumOffload: 'rx-checksum',
  TransmitChecksumOffload: 'tx-checksum-',
  GenericSegmentationOffload: 'tx-generic-segmentation',
  TCPSegmentationOffload: 'tx-tcp-segmentation',
  TCP6SegmentationOffload: 'tx-tcp6-segmentation',
  GenericReceiveOffload: 'rx-gro',
  GenericReceiveOffloadHardware: 'rx-gro-hw',
  LargeReceiveOffload: 'rx-lro',
  ReceiveVLANCTAGHardwareAcceleration: 'rx-vlan-hw-parse',
  TransmitVLANCTAGHardwareAcceleration: 'tx-vlan-hw-insert',
  ReceiveVLANCTAGFilter: 'rx-vlan-filter',
  TransmitVLANSTAGHardwareAcceleration: 'tx-vlan-stag-hw-insert',
  NTupleFilter: 'rx-ntuple-filter',
};

/** The [Link] key that sets a feature (for messages). */
export const featureKey = (feature: string) => Object.keys(FEATURE_KEYS).find((k) => FEATURE_KEYS[k] === feature) ?? feature;
