"""Enumerations of the SMB2 protocol itself ([MS-SMB2] 2.2).

FSCC-level enums (information classes, file attributes, access masks, create options...) live in
``sofs.wire.fscc_constants``. Decoders keep raw ``int`` values (unknown bits must survive a round
trip); compare them with these IntEnum/IntFlag members, which are ints.
"""
from __future__ import annotations

from enum import IntEnum, IntFlag


class Command(IntEnum):
    """[MS-SMB2] 2.2.1 SMB2 header Command."""

    NEGOTIATE = 0x0000
    SESSION_SETUP = 0x0001
    LOGOFF = 0x0002
    TREE_CONNECT = 0x0003
    TREE_DISCONNECT = 0x0004
    CREATE = 0x0005
    CLOSE = 0x0006
    FLUSH = 0x0007
    READ = 0x0008
    WRITE = 0x0009
    LOCK = 0x000A
    IOCTL = 0x000B
    CANCEL = 0x000C
    ECHO = 0x000D
    QUERY_DIRECTORY = 0x000E
    CHANGE_NOTIFY = 0x000F
    QUERY_INFO = 0x0010
    SET_INFO = 0x0011
    OPLOCK_BREAK = 0x0012


class Dialect(IntEnum):
    """[MS-SMB2] 2.2.3 Dialects."""

    SMB2_0_2 = 0x0202
    SMB2_1 = 0x0210
    SMB3_0 = 0x0300
    SMB3_0_2 = 0x0302
    SMB3_1_1 = 0x0311
    WILDCARD = 0x02FF


class HeaderFlags(IntFlag):
    """[MS-SMB2] 2.2.1 SMB2 header Flags."""

    NONE = 0
    SERVER_TO_REDIR = 0x00000001
    ASYNC_COMMAND = 0x00000002
    RELATED_OPERATIONS = 0x00000004
    SIGNED = 0x00000008
    PRIORITY_MASK = 0x00000070
    DFS_OPERATIONS = 0x10000000
    REPLAY_OPERATION = 0x20000000


class GlobalCaps(IntFlag):
    """[MS-SMB2] 2.2.3 / 2.2.4 Capabilities."""

    NONE = 0
    DFS = 0x00000001
    LEASING = 0x00000002
    LARGE_MTU = 0x00000004
    MULTI_CHANNEL = 0x00000008
    PERSISTENT_HANDLES = 0x00000010
    DIRECTORY_LEASING = 0x00000020
    ENCRYPTION = 0x00000040
    NOTIFICATIONS = 0x00000080


class SecurityMode(IntFlag):
    """[MS-SMB2] 2.2.3 / 2.2.5 SecurityMode (NEGOTIATE: 16 bits, SESSION_SETUP: 8 bits)."""

    NONE = 0
    SIGNING_ENABLED = 0x0001
    SIGNING_REQUIRED = 0x0002


class SessionFlags(IntFlag):
    """[MS-SMB2] 2.2.6 SESSION_SETUP Response SessionFlags."""

    NONE = 0
    IS_GUEST = 0x0001
    IS_NULL = 0x0002
    ENCRYPT_DATA = 0x0004


class SessionSetupFlags(IntFlag):
    """[MS-SMB2] 2.2.5 SESSION_SETUP Request Flags."""

    NONE = 0
    BINDING = 0x01


class ShareType(IntEnum):
    """[MS-SMB2] 2.2.10 TREE_CONNECT Response ShareType."""

    DISK = 0x01
    PIPE = 0x02
    PRINT = 0x03


class ShareFlags(IntFlag):
    """[MS-SMB2] 2.2.10 TREE_CONNECT Response ShareFlags (caching policy lives in bits 4-5)."""

    MANUAL_CACHING = 0x00000000
    DFS = 0x00000001
    DFS_ROOT = 0x00000002
    AUTO_CACHING = 0x00000010
    VDO_CACHING = 0x00000020
    NO_CACHING = 0x00000030
    CACHING_MASK = 0x00000030
    RESTRICT_EXCLUSIVE_OPENS = 0x00000100
    FORCE_SHARED_DELETE = 0x00000200
    ALLOW_NAMESPACE_CACHING = 0x00000400
    ACCESS_BASED_DIRECTORY_ENUM = 0x00000800
    FORCE_LEVELII_OPLOCK = 0x00001000
    ENABLE_HASH_V1 = 0x00002000
    ENABLE_HASH_V2 = 0x00004000
    ENCRYPT_DATA = 0x00008000
    IDENTITY_REMOTING = 0x00040000
    COMPRESS_DATA = 0x00100000
    ISOLATED_TRANSPORT = 0x00200000


class ShareCaps(IntFlag):
    """[MS-SMB2] 2.2.10 TREE_CONNECT Response Capabilities."""

    NONE = 0
    DFS = 0x00000008
    CONTINUOUS_AVAILABILITY = 0x00000010
    SCALEOUT = 0x00000020
    CLUSTER = 0x00000040
    ASYMMETRIC = 0x00000080
    REDIRECT_TO_OWNER = 0x00000100


class TreeConnectFlags(IntFlag):
    """[MS-SMB2] 2.2.9 TREE_CONNECT Request Flags (3.1.1; Reserved before)."""

    NONE = 0
    CLUSTER_RECONNECT = 0x0001
    REDIRECT_TO_OWNER = 0x0002
    EXTENSION_PRESENT = 0x0004


class NegotiateContextType(IntEnum):
    """[MS-SMB2] 2.2.3.1 NEGOTIATE_CONTEXT ContextType."""

    PREAUTH_INTEGRITY_CAPABILITIES = 0x0001
    ENCRYPTION_CAPABILITIES = 0x0002
    COMPRESSION_CAPABILITIES = 0x0003
    NETNAME_NEGOTIATE_CONTEXT_ID = 0x0005
    TRANSPORT_CAPABILITIES = 0x0006
    RDMA_TRANSFORM_CAPABILITIES = 0x0007
    SIGNING_CAPABILITIES = 0x0008
    CONTEXTTYPE_RESERVED = 0x0100


class HashAlgorithm(IntEnum):
    """[MS-SMB2] 2.2.3.1.1 HashAlgorithms."""

    SHA_512 = 0x0001


class Cipher(IntEnum):
    """[MS-SMB2] 2.2.3.1.2 Ciphers (0 in a response means no common cipher)."""

    NONE = 0x0000
    AES_128_CCM = 0x0001
    AES_128_GCM = 0x0002
    AES_256_CCM = 0x0003
    AES_256_GCM = 0x0004


class SigningAlgorithm(IntEnum):
    """[MS-SMB2] 2.2.3.1.7 SigningAlgorithms."""

    HMAC_SHA256 = 0x0000
    AES_CMAC = 0x0001
    AES_GMAC = 0x0002


class CompressionAlgorithm(IntEnum):
    """[MS-SMB2] 2.2.3.1.3 CompressionAlgorithms."""

    NONE = 0x0000
    LZNT1 = 0x0001
    LZ77 = 0x0002
    LZ77_HUFFMAN = 0x0003
    PATTERN_V1 = 0x0004
    LZ4 = 0x0005


class CompressionCapsFlags(IntFlag):
    """[MS-SMB2] 2.2.3.1.3 COMPRESSION_CAPABILITIES Flags."""

    NONE = 0x00000000
    CHAINED = 0x00000001


class TransportCapsFlags(IntFlag):
    """[MS-SMB2] 2.2.3.1.5 TRANSPORT_CAPABILITIES Flags."""

    NONE = 0
    ACCEPT_TRANSPORT_LEVEL_SECURITY = 0x00000001


class RdmaTransformId(IntEnum):
    """[MS-SMB2] 2.2.3.1.6 RDMA transform ids."""

    NONE = 0x0000
    ENCRYPTION = 0x0001
    SIGNING = 0x0002


class OplockLevel(IntEnum):
    """[MS-SMB2] 2.2.13 RequestedOplockLevel / 2.2.14 OplockLevel."""

    NONE = 0x00
    II = 0x01
    EXCLUSIVE = 0x08
    BATCH = 0x09
    LEASE = 0xFF


class LeaseState(IntFlag):
    """[MS-SMB2] 2.2.13.2.8 LeaseState."""

    NONE = 0x00
    READ_CACHING = 0x01
    HANDLE_CACHING = 0x02
    WRITE_CACHING = 0x04


class LeaseFlags(IntFlag):
    """[MS-SMB2] 2.2.13.2.10 SMB2_CREATE_REQUEST_LEASE_V2 Flags (and lease v1 response)."""

    NONE = 0x00
    BREAK_IN_PROGRESS = 0x02
    PARENT_LEASE_KEY_SET = 0x04


class LeaseBreakFlags(IntFlag):
    """[MS-SMB2] 2.2.23.2 Lease Break Notification Flags."""

    NONE = 0x00
    ACK_REQUIRED = 0x01


class LockFlags(IntFlag):
    """[MS-SMB2] 2.2.26.1 SMB2_LOCK_ELEMENT Flags."""

    NONE = 0
    SHARED_LOCK = 0x00000001
    EXCLUSIVE_LOCK = 0x00000002
    UNLOCK = 0x00000004
    FAIL_IMMEDIATELY = 0x00000010


class ChangeNotifyFlags(IntFlag):
    """[MS-SMB2] 2.2.35 CHANGE_NOTIFY Request Flags."""

    NONE = 0
    WATCH_TREE = 0x0001


class CompletionFilter(IntFlag):
    """[MS-SMB2] 2.2.35 CHANGE_NOTIFY CompletionFilter."""

    NONE = 0
    FILE_NAME = 0x00000001
    DIR_NAME = 0x00000002
    ATTRIBUTES = 0x00000004
    SIZE = 0x00000008
    LAST_WRITE = 0x00000010
    LAST_ACCESS = 0x00000020
    CREATION = 0x00000040
    EA = 0x00000080
    SECURITY = 0x00000100
    STREAM_NAME = 0x00000200
    STREAM_SIZE = 0x00000400
    STREAM_WRITE = 0x00000800


class NotifyAction(IntEnum):
    """[MS-FSCC] 2.7.1 FILE_NOTIFY_INFORMATION Action."""

    ADDED = 0x00000001
    REMOVED = 0x00000002
    MODIFIED = 0x00000003
    RENAMED_OLD_NAME = 0x00000004
    RENAMED_NEW_NAME = 0x00000005
    ADDED_STREAM = 0x00000006
    REMOVED_STREAM = 0x00000007
    MODIFIED_STREAM = 0x00000008
    REMOVED_BY_DELETE = 0x00000009
    ID_NOT_TUNNELLED = 0x0000000A
    TUNNELLED_ID_COLLISION = 0x0000000B


class IoctlFlags(IntFlag):
    """[MS-SMB2] 2.2.31 IOCTL Request Flags."""

    IS_IOCTL = 0x00000000
    IS_FSCTL = 0x00000001


class CtlCode(IntEnum):
    """[MS-SMB2] 2.2.31 CtlCode and the [MS-FSCC] 2.3 FSCTLs a file server sees."""

    DFS_GET_REFERRALS = 0x00060194
    DFS_GET_REFERRALS_EX = 0x000601B0
    PIPE_PEEK = 0x0011400C
    PIPE_WAIT = 0x00110018
    PIPE_TRANSCEIVE = 0x0011C017
    SRV_COPYCHUNK = 0x001440F2
    SRV_COPYCHUNK_WRITE = 0x001480F2
    SRV_ENUMERATE_SNAPSHOTS = 0x00144064
    SRV_REQUEST_RESUME_KEY = 0x00140078
    SRV_READ_HASH = 0x001441BB
    LMR_REQUEST_RESILIENCY = 0x001401D4
    QUERY_NETWORK_INTERFACE_INFO = 0x001401FC
    VALIDATE_NEGOTIATE_INFO = 0x00140204
    LMR_SET_LINK_TRACKING_INFORMATION = 0x001400EC
    IS_PATHNAME_VALID = 0x0009002C
    GET_COMPRESSION = 0x0009003C
    SET_COMPRESSION = 0x0009C040
    QUERY_FAT_BPB = 0x00090058
    FILESYSTEM_GET_STATISTICS = 0x00090060
    GET_NTFS_VOLUME_DATA = 0x00090064
    GET_RETRIEVAL_POINTERS = 0x00090073
    SET_OBJECT_ID = 0x00090098
    GET_OBJECT_ID = 0x0009009C
    DELETE_OBJECT_ID = 0x000900A0
    SET_REPARSE_POINT = 0x000900A4
    GET_REPARSE_POINT = 0x000900A8
    DELETE_REPARSE_POINT = 0x000900AC
    SET_OBJECT_ID_EXTENDED = 0x000900BC
    CREATE_OR_GET_OBJECT_ID = 0x000900C0
    SET_SPARSE = 0x000900C4
    SET_ENCRYPTION = 0x000900D7
    READ_FILE_USN_DATA = 0x000900EB
    WRITE_USN_CLOSE_RECORD = 0x000900EF
    MARK_HANDLE = 0x000900FC
    SIS_COPYFILE = 0x00090100
    RECALL_FILE = 0x00090117
    QUERY_SPARING_INFO = 0x00090138
    QUERY_ON_DISK_VOLUME_INFO = 0x0009013C
    SET_ZERO_ON_DEALLOCATION = 0x00090194
    SET_SHORT_NAME_BEHAVIOR = 0x000901B4
    GET_INTEGRITY_INFORMATION = 0x0009027C
    QUERY_FILE_REGIONS = 0x00090284
    QUERY_ALLOCATED_RANGES = 0x000940CF
    OFFLOAD_READ = 0x00094264
    SET_ZERO_DATA = 0x000980C8
    SET_DEFECT_MANAGEMENT = 0x00098134
    FILE_LEVEL_TRIM = 0x00098208
    OFFLOAD_WRITE = 0x00098268
    DUPLICATE_EXTENTS_TO_FILE = 0x00098344
    DUPLICATE_EXTENTS_TO_FILE_EX = 0x000983E8
    SET_INTEGRITY_INFORMATION = 0x0009C280


class InfoType(IntEnum):
    """[MS-SMB2] 2.2.37 QUERY_INFO / 2.2.39 SET_INFO InfoType."""

    FILE = 0x01
    FILESYSTEM = 0x02
    SECURITY = 0x03
    QUOTA = 0x04


class ReadFlags(IntFlag):
    """[MS-SMB2] 2.2.19 READ Request Flags."""

    NONE = 0
    READ_UNBUFFERED = 0x01
    REQUEST_COMPRESSED = 0x02


class ReadResponseFlags(IntFlag):
    """[MS-SMB2] 2.2.20 READ Response Flags."""

    NONE = 0
    RDMA_TRANSFORM = 0x00000001


class WriteFlags(IntFlag):
    """[MS-SMB2] 2.2.21 WRITE Request Flags."""

    NONE = 0
    WRITE_THROUGH = 0x00000001
    WRITE_UNBUFFERED = 0x00000002


class CloseFlags(IntFlag):
    """[MS-SMB2] 2.2.15 CLOSE Request Flags."""

    NONE = 0
    POSTQUERY_ATTRIB = 0x0001


class QueryDirectoryFlags(IntFlag):
    """[MS-SMB2] 2.2.33 QUERY_DIRECTORY Request Flags."""

    NONE = 0
    RESTART_SCANS = 0x01
    RETURN_SINGLE_ENTRY = 0x02
    INDEX_SPECIFIED = 0x04
    REOPEN = 0x10


class ChannelType(IntEnum):
    """[MS-SMB2] 2.2.19 / 2.2.21 Channel (READ/WRITE)."""

    NONE = 0x00000000
    RDMA_V1 = 0x00000001
    RDMA_V1_INVALIDATE = 0x00000002
    RDMA_TRANSFORM = 0x00000003


class TransformFlags(IntFlag):
    """[MS-SMB2] 2.2.41 TRANSFORM_HEADER Flags (3.1.1; EncryptionAlgorithm in 3.0.x)."""

    NONE = 0
    ENCRYPTED = 0x0001


class CompressionFlags(IntFlag):
    """[MS-SMB2] 2.2.42 COMPRESSION_TRANSFORM_HEADER Flags."""

    NONE = 0x0000
    CHAINED = 0x0001


class ErrorId(IntEnum):
    """[MS-SMB2] 2.2.2.1 SMB2 ERROR Context ErrorId."""

    DEFAULT = 0x00000000
    SHARE_REDIRECT = 0x72645253


class NetworkInterfaceCaps(IntFlag):
    """[MS-SMB2] 2.2.32.5 NETWORK_INTERFACE_INFO Capability."""

    NONE = 0
    RSS_CAPABLE = 0x00000001
    RDMA_CAPABLE = 0x00000002
