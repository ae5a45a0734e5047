export interface AlibabaCloudConfig {
  /** `https://business.aliyuncs.com` (China site) or the intl endpoint; `http://` only for the simulator. */
  endpoint: string;
  accessKeyId: string;
  accessKeySecret: string;
  /** Handed to httpx as both its read timeout and the socket idle timeout. */
  timeoutMs: number;
  /** `BusinessType` of ChangeResellerConsumeAmount. */
  businessType: string;
  /** `Source` of ChangeResellerConsumeAmount: the calling system's name as Alibaba Cloud records it. */
  source: string;
}
