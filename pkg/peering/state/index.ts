// What this daemon holds from its peers: one partition per peer (its client is the only writer) and its
// durable copy on disk.
export { DECODE_OPTS, PeerPartition, StringPool, peerFile } from './partition';
export { PeerStateWriter, restorePeerState } from './persist';
