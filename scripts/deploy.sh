#!/usr/bin/env bash
# The path to production: build the artifacts, upload them, deploy the CloudFormation stack, push the
# lister image and store the source credentials.
#
#   scripts/deploy.sh --stack NAME --artifact-bucket BUCKET --source-bucket BUCKET --dest-bucket BUCKET \
#       [--region REGION] [--source-provider NAME] [--source-region NAME] [--prefix PREFIX] \
#       [--dest-prefix PREFIX] [--skip-build] [--skip-image] [--parameter Key=Value ...]
#
# Source credentials, if given, come from the environment (never from arguments, which other users of
# the machine can read in ps): SOURCE_ENDPOINT, SOURCE_ACCESS_KEY_ID, SOURCE_SECRET_ACCESS_KEY.
# RCLONE_VERSION pins the rclone the workers run (default 1.75.2, the release the test suite pins in
# scripts/rclone-pin.ts); its SHA-256 comes from rclone's published SHA256SUMS for that release.
#
# Needs: node (npm run package: dpkg-deb and rpmbuild), the AWS CLI v2 with credentials for the target
# account, curl and sha256sum; docker to build the lister image (or --skip-image and push it yourself).
set -Eeuo pipefail

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

die() {
  echo "deploy: $*" >&2
  exit 1
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STACK='' ARTIFACT_BUCKET='' SOURCE_BUCKET='' DEST_BUCKET='' REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
SOURCE_PROVIDER=Other SOURCE_REGION=us-east-1 PREFIX='' DEST_PREFIX='' BUILD=1 IMAGE=1
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) STACK=$2; shift 2 ;;
    --artifact-bucket) ARTIFACT_BUCKET=$2; shift 2 ;;
    --source-bucket) SOURCE_BUCKET=$2; shift 2 ;;
    --dest-bucket) DEST_BUCKET=$2; shift 2 ;;
    --region) REGION=$2; shift 2 ;;
    --source-provider) SOURCE_PROVIDER=$2; shift 2 ;;
    --source-region) SOURCE_REGION=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --dest-prefix) DEST_PREFIX=$2; shift 2 ;;
    --parameter) EXTRA+=("$2"); shift 2 ;;
    --skip-build) BUILD=0; shift ;;
    --skip-image) IMAGE=0; shift ;;
    -h | --help) usage ;;
    *) echo "deploy: unknown argument $1" >&2; usage ;;
  esac
done
if [ -z "$STACK" ] || [ -z "$ARTIFACT_BUCKET" ] || [ -z "$SOURCE_BUCKET" ] || [ -z "$DEST_BUCKET" ]; then usage; fi
[ -n "$REGION" ] || die "no region: pass --region or set AWS_REGION"
for tool in aws curl sha256sum; do command -v "$tool" >/dev/null || die "$tool is required"; done

VERSION=$(node -p "require('$ROOT/package.json').version")
RCLONE_VERSION=${RCLONE_VERSION:-1.75.2}
RPM="rclone-migrate-$VERSION-1.x86_64.rpm"
RCLONE_ZIP="rclone-v$RCLONE_VERSION-linux-amd64.zip"
PREFIX_KEY="rclone-migrate/$VERSION/"
WORK="$ROOT/build/deploy"
mkdir -p "$WORK"

step() { printf '\n== %s\n' "$*"; }

if [ "$BUILD" = 1 ]; then
  step "build (npm run package)"
  (cd "$ROOT" && npm run package)
fi
[ -f "$ROOT/dist/$RPM" ] || die "dist/$RPM is missing: run npm run package (or drop --skip-build)"
PACKAGE_SHA=$(cd "$ROOT/dist" && sha256sum "$RPM" | cut -d' ' -f1)

step "rclone $RCLONE_VERSION (checked against rclone's published SHA256SUMS)"
if [ ! -f "$WORK/$RCLONE_ZIP" ]; then
  curl -fsSL -o "$WORK/$RCLONE_ZIP.part" "https://downloads.rclone.org/v$RCLONE_VERSION/$RCLONE_ZIP"
  mv "$WORK/$RCLONE_ZIP.part" "$WORK/$RCLONE_ZIP"
fi
curl -fsSL -o "$WORK/rclone-$RCLONE_VERSION-SHA256SUMS" "https://downloads.rclone.org/v$RCLONE_VERSION/SHA256SUMS"
RCLONE_SHA=$(awk -v f="$RCLONE_ZIP" '$2 == f { print $1 }' "$WORK/rclone-$RCLONE_VERSION-SHA256SUMS")
[ -n "$RCLONE_SHA" ] || die "$RCLONE_ZIP is not listed in rclone's SHA256SUMS"
if ! echo "$RCLONE_SHA  $WORK/$RCLONE_ZIP" | sha256sum --check --strict; then
  rm -f "$WORK/$RCLONE_ZIP"
  die "$RCLONE_ZIP does not match rclone's published checksum: removed it, try again"
fi

step "upload artifacts to s3://$ARTIFACT_BUCKET/$PREFIX_KEY"
aws s3 cp --region "$REGION" --only-show-errors "$ROOT/dist/$RPM" "s3://$ARTIFACT_BUCKET/$PREFIX_KEY$RPM"
aws s3 cp --region "$REGION" --only-show-errors "$WORK/$RCLONE_ZIP" "s3://$ARTIFACT_BUCKET/$PREFIX_KEY$RCLONE_ZIP"

step "deploy stack $STACK ($REGION)"
aws cloudformation deploy --region "$REGION" --stack-name "$STACK" \
  --template-file "$ROOT/cloudformation/rclone-migrate.yaml" \
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
  --parameter-overrides \
  "SourceBucket=$SOURCE_BUCKET" "SourcePrefix=$PREFIX" "SourceProvider=$SOURCE_PROVIDER" \
  "SourceRegion=$SOURCE_REGION" "DestinationBucket=$DEST_BUCKET" "DestinationPrefix=$DEST_PREFIX" \
  "ArtifactBucket=$ARTIFACT_BUCKET" "ArtifactPrefix=$PREFIX_KEY" "PackageFile=$RPM" \
  "PackageSha256=$PACKAGE_SHA" "RcloneVersion=$RCLONE_VERSION" "RcloneSha256=$RCLONE_SHA" \
  "ListerImageTag=$VERSION" ${EXTRA[@]+"${EXTRA[@]}"}

output() {
  aws cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

if [ "$IMAGE" = 1 ]; then
  step "lister image"
  command -v docker >/dev/null || die "docker is required for the lister image (or pass --skip-image)"
  REPO=$(output ListerRepositoryUri)
  aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "${REPO%%/*}"
  docker build -f "$ROOT/packaging/Dockerfile.lister" -t "$REPO:$VERSION" "$ROOT"
  docker push "$REPO:$VERSION"
fi

if [ -n "${SOURCE_ENDPOINT:-}${SOURCE_ACCESS_KEY_ID:-}${SOURCE_SECRET_ACCESS_KEY:-}" ]; then
  step "source credentials into Secrets Manager"
  secret_dir=$(mktemp -d)
  trap 'rm -rf "$secret_dir"' EXIT
  put() {
    # The value goes through a private file, never onto a command line.
    (umask 077 && printf '%s' "$2" > "$secret_dir/value")
    aws secretsmanager put-secret-value --region "$REGION" --secret-id "/rclone-migrate/$STACK/$1" \
      --secret-string "file://$secret_dir/value" --output text --query VersionId >/dev/null
    echo "stored /rclone-migrate/$STACK/$1"
  }
  [ -z "${SOURCE_ENDPOINT:-}" ] || put source_endpoint "$SOURCE_ENDPOINT"
  [ -z "${SOURCE_ACCESS_KEY_ID:-}" ] || put source_access_key "$SOURCE_ACCESS_KEY_ID"
  [ -z "${SOURCE_SECRET_ACCESS_KEY:-}" ] || put source_secret_key "$SOURCE_SECRET_ACCESS_KEY"
fi

step "done"
echo "Dashboard:   $(output DashboardUrl)"
echo "Start the lister (workers scale up from zero as batches arrive):"
echo "  $(output RunListerCommand)"
