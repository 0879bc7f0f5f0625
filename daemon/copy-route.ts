// Which path copies an object: pure decisions, made before any request (by its keys) and after the
// source's HEAD (by its attributes). The rclone pool is taken only where it can move the whole object.
import { attributesOf, type ObjectHeaders } from '../shared/object-attributes.ts';
import { rcloneCanAddress } from '../shared/s3-names.ts';

export type CopyPath = 'rclone' | 'sdk';

/** The operator's choice (worker.copyPath): auto sends objects listed at `rcloneFromBytes` or more to rclone. */
export type PathChoice = CopyPath | 'auto';

/** The path before any request: the choice, by size under auto, narrowed to the SDK for keys rclone cannot address. */
export function pathByListing(
  choice: PathChoice,
  object: { srcKey: string; dstKey: string; size?: number },
  rcloneFromBytes: number,
): CopyPath {
  if (!rcloneCanAddress(object.srcKey) || !rcloneCanAddress(object.dstKey)) return 'sdk';
  if (choice === 'auto') return object.size !== undefined && object.size >= rcloneFromBytes ? 'rclone' : 'sdk';
  return choice;
}

/**
 * The headers of the object that rclone's upload cannot set: its s3 backend (1.75.2, prepareUpload)
 * sets Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Content-Type, user
 * metadata and x-amz-tagging, but neither Expires nor Website-Redirect-Location. An object with one of
 * them is copied by the SDK instead, so that it arrives whole.
 */
export function unsetByRclone(head: ObjectHeaders): string[] {
  const a = attributesOf(head);
  return [
    ...(a.expires !== undefined ? ['Expires'] : []),
    ...(a.websiteRedirectLocation !== undefined ? ['Website-Redirect-Location'] : []),
  ];
}
