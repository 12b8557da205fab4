/**
 * The S3 reader's pieces without a server: the SigV4 signer against the worked example of AWS's
 * "Signature Calculations for the Authorization Header: Transferring Payload in a Single Chunk"
 * (GET Object, examplebucket/test.txt, Range bytes=0-9, the documentation's example keys), the
 * Pulumi `s3://` backend URL read as the CLI reads it, and static credentials.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { S3Bucket, s3Credentials, s3Location, signS3Request } from "../../scripts/lib/s3";

describe("S3 reader", () => {
  test("SigV4: AWS's GET Object example signs to the documented signature", () => {
    const headers = signS3Request({
      method: "GET",
      url: new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
      region: "us-east-1",
      credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
      date: new Date("2013-05-24T00:00:00Z"),
      extra: { Range: "bytes=0-9" },
    });
    expect(headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    expect(headers["x-amz-content-sha256"]).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  test("a session token is signed too", () => {
    const h = signS3Request({
      method: "GET",
      url: new URL("https://b.s3.amazonaws.com/k"),
      region: "eu-west-1",
      credentials: { accessKeyId: "AK", secretAccessKey: "SK", sessionToken: "TOKEN" },
    });
    expect(h["x-amz-security-token"]).toBe("TOKEN");
    expect(h.authorization).toMatch(/SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,/);
  });

  test("Pulumi's s3:// URL: an S3-compatible server (the docs' form), AWS itself, folders as the prefix", () => {
    expect(s3Location("s3://state?endpoint=127.0.0.1:9000&disableSSL=true&s3ForcePathStyle=true", {})).toEqual({
      bucket: "state",
      prefix: "",
      endpoint: "http://127.0.0.1:9000",
      region: "us-east-1",
      pathStyle: true,
      profile: undefined,
      anonymous: false,
    });
    expect(s3Location("s3://pm-state/fleet/prod?region=eu-central-1&awssdk=v2&profile=ops", {})).toMatchObject({
      bucket: "pm-state",
      prefix: "fleet/prod/",
      endpoint: "https://s3.eu-central-1.amazonaws.com",
      region: "eu-central-1",
      pathStyle: false,
      profile: "ops",
    });
    expect(s3Location("s3://b?endpoint=https://minio.internal:9000&use_path_style=true", { AWS_REGION: "ca-central-1" })).toMatchObject({
      endpoint: "https://minio.internal:9000",
      region: "ca-central-1",
      pathStyle: true,
    });
    expect(() => s3Location("s3://", {})).toThrow(/not an s3:\/\/<bucket>/);
  });

  test("addressing: path-style and virtual-hosted URLs, keys encoded once", () => {
    const path = new S3Bucket(s3Location("s3://b?endpoint=127.0.0.1:1&disableSSL=true&s3ForcePathStyle=true", {}), undefined);
    expect(path.urlOf(".pulumi/stacks/p/a b.json").toString()).toBe("http://127.0.0.1:1/b/.pulumi/stacks/p/a%20b.json");
    expect(path.urlOf("", { "list-type": "2", prefix: "x/" }).toString()).toBe("http://127.0.0.1:1/b?list-type=2&prefix=x%2F");
    const vhost = new S3Bucket(s3Location("s3://b/pre", { AWS_REGION: "us-west-2" }), undefined);
    expect(vhost.urlOf("pre/k").toString()).toBe("https://b.s3.us-west-2.amazonaws.com/pre/k");
  });

  test("credentials: the environment first, else the profile's static keys in the shared file, else none", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "s3-creds-"));
    try {
      const file = path.join(dir, "credentials");
      fs.writeFileSync(
        file,
        "[default]\naws_access_key_id = AKD\naws_secret_access_key = SKD\n\n[ops]\naws_access_key_id=AKO\naws_secret_access_key=SKO\naws_session_token=TO\n",
      );
      expect(s3Credentials(undefined, { AWS_ACCESS_KEY_ID: "A", AWS_SECRET_ACCESS_KEY: "S" })).toEqual({
        accessKeyId: "A",
        secretAccessKey: "S",
      });
      expect(s3Credentials(undefined, { AWS_SHARED_CREDENTIALS_FILE: file })).toEqual({ accessKeyId: "AKD", secretAccessKey: "SKD" });
      expect(s3Credentials("ops", { AWS_SHARED_CREDENTIALS_FILE: file, AWS_ACCESS_KEY_ID: "A", AWS_SECRET_ACCESS_KEY: "S" })).toEqual({
        accessKeyId: "AKO",
        secretAccessKey: "SKO",
        sessionToken: "TO",
      });
      expect(s3Credentials("nobody", { AWS_SHARED_CREDENTIALS_FILE: file })).toBeUndefined();
      expect(s3Credentials(undefined, { AWS_SHARED_CREDENTIALS_FILE: path.join(dir, "none") })).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
