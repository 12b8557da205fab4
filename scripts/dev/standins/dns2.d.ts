/** The part of `dns2` (no published types) the DNS stand-in uses. */
declare module "dns2" {
  interface Question {
    name: string;
    type: number;
  }
  interface Request {
    questions: Question[];
  }
  interface Response {
    header: { rcode: number; aa: number };
    answers: unknown[];
  }
  interface Server {
    on(event: "listening", f: (addresses: { udp?: import("net").AddressInfo }) => void): void;
    listen(o: { udp?: { port: number; address: string } }): Promise<void>;
    close(): Promise<void>;
  }
  const dns2: {
    Packet: {
      TYPE: Record<"A" | "NS" | "TXT" | "MX" | "CNAME" | "SRV" | "PTR", number>;
      CLASS: { IN: number };
      createResponseFromRequest(r: Request): Response;
    };
    createServer(o: { udp?: boolean; tcp?: boolean; handle: (request: Request, send: (r: Response) => void) => void }): Server;
  };
  export default dns2;
}
