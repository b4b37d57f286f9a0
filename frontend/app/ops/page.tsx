import Ops from '@/components/Ops';

export default function Page() {
  return <Ops />;
}
