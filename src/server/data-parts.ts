import type { Db } from '../db/database.js';
import type { PolicyCheck } from '../auth/policy-check.js';
import { ImageAccess } from '../images/image-access.js';
import type { ImageEvent } from '../images/image-events.js';
import { NO_EVENTS, type EventSink } from '../ports/events.js';
import type { Logger } from '../ports/logger.js';
import { NO_METRICS, type Metrics } from '../ports/metrics.js';
import { LeaseStore } from '../coordination/lease-store.js';
import { NodeRegistry } from '../coordination/node-registry.js';
import { ImageDataService } from '../images/image-data-service.js';
import { ImageRepository } from '../images/image-repository.js';
import { DataRecovery } from '../maintenance/data-recovery.js';
import { Scrubber } from '../maintenance/scrubber.js';
import { StoreRegistry } from '../stores/store-registry.js';
import { HashPool } from '../hashing/hash-pool.js';
import { inlineHashingStream } from '../hashing/inline-hashing.js';
import { ImageSignatures } from '../signing/image-signatures.js';
import { BarbicanKeyManager } from '../keymanager/barbican/barbican-key-manager.js';
import { EmbeddedKeyManager } from '../keymanager/embedded/embedded-key-manager.js';
import { openEmbeddedKeyManager } from '../keymanager/embedded/open-embedded-key-manager.js';
import type { SecretService } from '../keymanager/embedded/secret-service.js';
import type { ServerSettings } from './server-settings.js';
import { StagingArea } from '../imports/staging-area.js';
import { DownloadSender } from '../transfer/download-sender.js';
import { LocalFileSender } from '../transfer/local-file-sender.js';
import { alignedBuffer, alignedOffset, nativeAddonUnavailable, nativeSendfile, residentFraction } from '../native/native-addon.js';
import { RegionPool } from '../buffers/region-pool.js';
import { RegionBudget } from '../buffers/region-budget.js';

/**
 * Image bytes on their way into a store travel in shared regions of this size: upload bodies read
 * from the socket (src/http/socket-body.ts), staged files read for an import
 * (src/stores/file/region-file-reader.ts) and downloads (src/buffers/region-packer.ts). A fair
 * O_DIRECT write, few hash messages.
 */
const DATA_REGION_BYTES = 4 * 1024 * 1024;
/**
 * Idle regions a process keeps for the next upload or import, one pool for both: about what one
 * of them has in flight. The rest is garbage once returned.
 */
const IDLE_DATA_REGIONS = 8;
/**
 * The regions all imports of one process hold at once (32 MiB): enough for one import to keep
 * both hash threads and the disk busy, and the ceiling however many run (bench/README.md,
 * "Interoperable import").
 */
const IMPORT_REGIONS = 8;

/**
 * Downloads by sendfile(2), or O_DIRECT reads for uncached images, when configured and the
 * addon is built; the log says when not.
 */
function downloadSender(enabled: boolean, log: Logger): DownloadSender {
  if (enabled && nativeSendfile === null) log.warn(`sendfile_downloads is on but ${nativeAddonUnavailable ?? 'unavailable'}; downloads stream through Node`);
  // Each transfer holds a libuv thread-pool thread while it sends; half the pool stays for file I/O.
  const poolSize = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4) || 4;
  const directReads = enabled && residentFraction !== null && alignedBuffer !== null ? { residentFraction, allocate: alignedBuffer } : null;
  return new DownloadSender(new LocalFileSender(enabled ? nativeSendfile : null, Math.max(1, Math.floor(poolSize / 2)), directReads));
}

export interface DataParts {
  readonly repo: ImageRepository;
  readonly access: ImageAccess;
  readonly stores: StoreRegistry;
  readonly data: ImageDataService;
  readonly scrubber: Scrubber;
  readonly recovery: DataRecovery;
  /** Signature verification, which image create and update also consult. */
  readonly signatures: ImageSignatures;
  /** The embedded key manager's secrets, or null with `[key_manager] backend = barbican`. */
  readonly secrets: SecretService | null;
  /** This node's heartbeat row among the nodes on the database. */
  readonly nodes: NodeRegistry;
  /** How download bodies are sent. */
  readonly sender: DownloadSender;
  /** Where staged image data waits for its import. */
  readonly staging: StagingArea;
  /** The shared regions image bytes travel in: upload bodies read from the socket, staged files and downloads of an import. */
  readonly regions: RegionPool;
  /** The share of them all imports of the process hold at once (staged files read, downloads packed). */
  readonly importRegions: RegionBudget;
  /** Stops the hashing threads. */
  close(): Promise<void>;
}

/**
 * The image data side, built the same way by the API server, its startup recovery pass and the
 * glimpse-manage commands, so all three see the same stores and the same rules.
 */
/** The ports services report through; the defaults drop everything (no adapter configured yet). */
export interface ServicePorts {
  readonly events: EventSink<ImageEvent>;
  readonly metrics: Metrics;
}

export const NO_PORTS: ServicePorts = { events: NO_EVENTS, metrics: NO_METRICS };

export async function openDataParts(settings: ServerSettings, db: Db, policy: PolicyCheck, log: Logger, ports: ServicePorts = NO_PORTS): Promise<DataParts> {
  const secrets = settings.keyManager.backend === 'embedded' ? await openEmbeddedKeyManager(settings.dataDir, db) : null;
  const keyManager =
    secrets === null
      ? new BarbicanKeyManager({ endpoint: settings.keyManager.barbicanEndpoint, apiVersion: settings.keyManager.barbicanApiVersion })
      : new EmbeddedKeyManager(secrets);
  const signatures = new ImageSignatures(keyManager, settings.signatures);
  const repo = new ImageRepository(db, { trackStores: settings.stores.multiStore });
  const nodes = new NodeRegistry(db, settings.node.id, {
    heartbeatMs: settings.node.heartbeatSeconds * 1000,
    deadAfterMs: settings.node.deadAfterSeconds * 1000,
  });
  const access = new ImageAccess(repo, policy);
  const stores = await StoreRegistry.open(settings.stores);
  const regions = new RegionPool(DATA_REGION_BYTES, IDLE_DATA_REGIONS, alignedOffset);
  const importRegions = new RegionBudget(regions, IMPORT_REGIONS);
  const staging = await StagingArea.open(settings.imports.stagingDir, settings.imports.stagingDurable, importRegions);
  const pool = settings.hashingThreads > 0 ? new HashPool(settings.hashingThreads) : null;
  const sender = downloadSender(settings.sendfileDownloads, log);
  const data = new ImageDataService({
    repo,
    access,
    stores,
    hashing: pool === null ? inlineHashingStream : (algorithms) => pool.hashingStream(algorithms),
    options: {
      imageSizeCap: settings.imageSizeCap,
      hashingAlgorithm: settings.hashingAlgorithm,
      userStorageQuota: settings.userStorageQuota,
      formatPolicy: settings.formatPolicy,
      nodeId: settings.node.id,
    },
    signatures,
    sender,
    log,
    ...ports,
  });
  return {
    repo,
    access,
    stores,
    data,
    scrubber: new Scrubber(repo, data, settings.scrubber, log, { leases: new LeaseStore(db), holder: `${settings.node.id}#${process.pid}` }),
    recovery: new DataRecovery(repo, stores, log, nodes, new LeaseStore(db), staging),
    nodes,
    sender,
    staging,
    regions,
    importRegions,
    signatures,
    secrets,
    close: async () => {
      await pool?.close();
    },
  };
}
